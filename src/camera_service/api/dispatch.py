"""Dispatch: one frame in, one reply out. Rate limit, method lookup, authentication,
role check, params validation, handler call and error mapping, in that order.

Transport-free: a transport hands in the frame text and a ``Session`` and writes back
what comes out; replies of ``concurrent`` methods leave through ``session.send``.

``handle_nowait`` runs a request as far as it can without waiting. Most requests
(``ping``, status calls of an authenticated session) finish right there, with no
coroutine or task created; when a step must wait (an async handler, an API-key lookup)
it returns a coroutine that finishes the job, and the transport awaits it before it
reads the connection's next message, so per-connection order is kept.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Callable, Coroutine
from types import CoroutineType
from typing import Any, Protocol

from camera_service.api.jsonrpc import (
    AUTH_REQUIRED,
    INTERNAL_ERROR,
    METHOD_NOT_FOUND,
    PERMISSION_DENIED,
    RATE_LIMITED,
    Invalid,
    Message,
    Request,
    RpcError,
    batch_reply,
    error_reply,
    parse,
    result_reply,
)
from camera_service.api.methodtable import Call, MethodSpec, MethodTable
from camera_service.api.session import Session
from camera_service.auth.identity import AuthError, Identity
from camera_service.observability.logging import correlation_id

log = logging.getLogger(__name__)

Reply = bytes | None
Pending = Coroutine[Any, Any, Reply]


class Authenticator(Protocol):
    async def authenticate(self, token: str, auth_type: str = "auto") -> Identity: ...

    def recheck(self, identity: Identity, now: float) -> AuthError | None:
        """None while the identity is still good (not expired, not revoked)."""
        ...


class Observer(Protocol):
    def request_done(self, method: str, code: int, seconds: float) -> None: ...

    def security_event(self, event: str, actor: str | None, **detail: Any) -> None: ...


class Dispatcher:
    def __init__(
        self,
        registry: MethodTable,
        authenticator: Authenticator,
        observer: Observer,
        request_timeout: float,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.registry = registry
        self.auth = authenticator
        self.observer = observer
        self.request_timeout = request_timeout
        self.clock = clock
        self._tasks: set[asyncio.Task[None]] = set()
        self._inflight = 0
        self._idle = asyncio.Event()
        self._idle.set()

    # --- entry points ----------------------------------------------------------------

    async def handle(self, session: Session, payload: str | bytes) -> Reply:
        """Process one frame; returns the reply to send now (None: nothing, or later)."""
        reply = self.handle_nowait(session, payload)
        return reply if reply is None or isinstance(reply, bytes) else await reply

    def handle_nowait(self, session: Session, payload: str | bytes) -> Reply | Pending:
        """Like ``handle``, but returns a coroutine instead of waiting."""
        parsed = parse(payload)
        if any(self._is_concurrent(m) for m in parsed.messages):
            self._spawn(self._deliver(session, parsed.messages, parsed.is_batch))
            return None
        if not parsed.is_batch:
            return self._one(session, parsed.messages[0])
        return self._batch(session, parsed.messages)

    def _is_concurrent(self, msg: Message) -> bool:
        if not isinstance(msg, Request):
            return False
        spec = self.registry.get(msg.method)
        return spec is not None and spec.concurrent

    # --- batches: elements run in order; the first that waits carries the rest -------

    def _batch(self, session: Session, messages: list[Message]) -> Reply | Pending:
        replies: list[bytes] = []
        for i, msg in enumerate(messages):
            reply = self._one(session, msg)
            if isinstance(reply, bytes):
                replies.append(reply)
            elif reply is not None:
                return self._batch_rest(session, messages[i + 1 :], replies, reply)
        return batch_reply(replies) if replies else None

    async def _batch_rest(
        self, session: Session, rest: list[Message], replies: list[bytes], pending: Pending
    ) -> Reply:
        reply = await pending
        if reply is not None:
            replies.append(reply)
        for msg in rest:
            reply = await self.handle_one(session, msg)
            if reply is not None:
                replies.append(reply)
        return batch_reply(replies) if replies else None

    async def handle_one(self, session: Session, msg: Message) -> Reply:
        reply = self._one(session, msg)
        return reply if reply is None or isinstance(reply, bytes) else await reply

    async def _deliver(self, session: Session, messages: list[Message], is_batch: bool) -> None:
        reply = self._batch(session, messages) if is_batch else self._one(session, messages[0])
        if reply is not None and not isinstance(reply, bytes):
            reply = await reply
        if reply is not None:
            session.send(reply)

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        self._idle.clear()
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not self._tasks and not self._inflight:
            self._idle.set()

    # --- one request ---------------------------------------------------------------------

    def _one(self, session: Session, msg: Message) -> Reply | Pending:
        started = time.perf_counter()
        if isinstance(msg, Invalid):
            self.observer.request_done("invalid", msg.error.code, time.perf_counter() - started)
            return None if msg.is_notification else error_reply(msg.id, msg.error)
        spec = self.registry.get(msg.method)
        label = spec.name if spec is not None else "unknown"  # bounded metric labels
        token = correlation_id.set(f"{session.conn_id}:{msg.id}")
        try:
            outcome = self._start(session, msg, spec)
        except Exception as exc:
            return self._failed(session, msg, label, started, exc)
        finally:
            correlation_id.reset(token)
        if isinstance(outcome, CoroutineType):
            return self._finish(session, msg, label, started, outcome)
        return self._done(msg, label, started, outcome)

    def _start(self, session: Session, req: Request, spec: MethodSpec | None) -> Any:
        """Run every step that needs no waiting; a coroutine is returned for the rest."""
        if not session.bucket.allow(time.monotonic()):
            raise RpcError(RATE_LIMITED, "Rate limit exceeded", {"reason": "rate_limited"})
        if spec is None:
            raise RpcError(
                METHOD_NOT_FOUND,
                f"Method not found: {req.method[:64]}",
                {"reason": "method_not_found"},
            )
        if spec.role is not None:
            identity = session.identity
            problem = None if identity is None else self.auth.recheck(identity, self.clock())
            if identity is None or problem is not None:
                return self._authenticate_then_call(session, req, spec, problem)
            if identity.role < spec.role:
                self._deny(identity, spec)
        return self._invoke(session, req, spec)

    def _invoke(self, session: Session, req: Request, spec: MethodSpec) -> Any:
        call = Call(spec.validate(req.params), session, self.registry.ctx)
        if spec.is_async:
            return self._timed(spec.handler(call))
        return spec.handler(call)

    async def _timed(self, awaitable: Any) -> Any:
        self._inflight += 1
        self._idle.clear()
        try:
            async with asyncio.timeout(self.request_timeout):
                return await awaitable
        finally:
            self._inflight -= 1
            if not self._inflight and not self._tasks:
                self._idle.set()

    async def _finish(
        self, session: Session, msg: Request, label: str, started: float, pending: Any
    ) -> Reply:
        token = correlation_id.set(f"{session.conn_id}:{msg.id}")
        try:
            result = await pending
        except Exception as exc:
            return self._failed(session, msg, label, started, exc)
        finally:
            correlation_id.reset(token)
        return self._done(msg, label, started, result)

    def _done(self, msg: Request, label: str, started: float, result: Any) -> Reply:
        self.observer.request_done(label, 0, time.perf_counter() - started)
        return None if msg.is_notification else result_reply(msg.id, result)

    def _failed(
        self, session: Session, msg: Request, label: str, started: float, exc: Exception
    ) -> Reply:
        if isinstance(exc, RpcError):
            err = exc
        else:  # a handler bug or timeout must not take down the connection
            ref = f"{session.conn_id}-{uuid.uuid4().hex[:12]}"
            if isinstance(exc, TimeoutError):
                message = f"Internal error: {label} timed out after {self.request_timeout:g} s"
                log.error("request timed out", extra={"method": label, "error_ref": ref})
            else:
                message = "Internal error"
                log.error(
                    "handler failed",
                    exc_info=exc,
                    extra={"method": label, "error_ref": ref},
                )
            err = RpcError(
                INTERNAL_ERROR, message, {"reason": "internal_error", "correlation_id": ref}
            )
        self.observer.request_done(label, err.code, time.perf_counter() - started)
        return None if msg.is_notification else error_reply(msg.id, err)

    # --- authentication ---------------------------------------------------------------------

    async def _authenticate_then_call(
        self, session: Session, req: Request, spec: MethodSpec, problem: AuthError | None
    ) -> Any:
        """No valid session identity: use the call's own token, or refuse."""
        if problem is not None:
            session.forget_identity()
        token = req.params.get("auth_token") or req.params.get("token")
        if isinstance(token, str) and token:
            identity = await self.authenticate(session, token, "auto")
        elif problem is not None:
            self.observer.security_event("auth_failure", None, reason=problem.reason)
            raise RpcError(AUTH_REQUIRED, problem.message, {"reason": problem.reason})
        else:
            raise RpcError(
                AUTH_REQUIRED,
                f"Authentication required for {spec.name} - "
                "call authenticate or provide auth_token",
                {"reason": "authentication_required"},
            )
        assert spec.role is not None
        if identity.role < spec.role:
            self._deny(identity, spec)
        result = self._invoke(session, req, spec)
        return await result if isinstance(result, CoroutineType) else result

    def _deny(self, identity: Identity, spec: MethodSpec) -> None:
        assert spec.role is not None
        self.observer.security_event(
            "role_denied", identity.user_id, method=spec.name, role=identity.role.label
        )
        raise RpcError(
            PERMISSION_DENIED,
            f"Insufficient permissions - {spec.role.label} role required for {spec.name}",
            {
                "reason": "insufficient_role",
                "required_role": spec.role.label,
                "role": identity.role.label,
            },
        )

    async def authenticate(self, session: Session, token: str, auth_type: str) -> Identity:
        """Verify a token and bind the identity to this session only."""
        try:
            identity = await self.auth.authenticate(token, auth_type)
        except AuthError as exc:
            self.observer.security_event("auth_failure", None, reason=exc.reason)
            raise RpcError(AUTH_REQUIRED, exc.message, {"reason": exc.reason}) from None
        session.authenticate(identity)
        return identity

    # --- shutdown ------------------------------------------------------------------------------

    @property
    def busy(self) -> int:
        return self._inflight + len(self._tasks)

    async def drain(self, timeout: float) -> bool:
        """Wait for in-flight requests; True if all finished within the timeout."""
        try:
            async with asyncio.timeout(timeout):
                await self._idle.wait()
            return True
        except TimeoutError:
            for task in list(self._tasks):
                task.cancel()
            return False
