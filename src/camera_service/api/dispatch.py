"""Dispatch: one frame in, one outcome out. Rate limit, method lookup, authentication,
role check, params validation, handler call and error mapping, in that order.

Transport-free: a transport hands in the frame text and a ``Session``; ``handle``
returns the reply (bytes), nothing (``None``: notifications), or a ``Pending`` reply
for the transport to run. That is the only way a reply leaves.

Most requests (``ping``, status calls of an authenticated session) finish inside
``handle``, with no coroutine or task created: through a coroutine and a task, a
``ping`` would cost the service 1.45 times the instructions (docs/benchmarks.md,
issue 13). When a step must wait (an async handler, an API-key lookup) the rest is a
coroutine in a ``Pending``; the transport awaits it before the connection's next
request, or beside them when the method is ``concurrent``.
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


class Pending:
    """A reply that has to wait: the transport awaits ``reply`` (None: nothing to send)
    after the connection's earlier requests, or, when ``concurrent``, without holding
    up its later ones (long-running methods: recordings, snapshots, cleanup)."""

    __slots__ = ("concurrent", "reply")

    def __init__(self, reply: Coroutine[Any, Any, bytes | None], concurrent: bool) -> None:
        self.reply = reply
        self.concurrent = concurrent


Outcome = bytes | Pending | None


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
        # The tasks running a request that waits (whoever runs it): drain() counts
        # them and cancels them at its deadline.
        self._running: set[asyncio.Task[Any]] = set()
        self._idle = asyncio.Event()
        self._idle.set()

    # --- the entry point ------------------------------------------------------------

    def handle(self, session: Session, payload: str | bytes) -> Outcome:
        """Process one frame as far as it goes without waiting."""
        parsed = parse(payload)
        if parsed.is_batch:
            return self._batch(session, parsed.messages)
        return self._one(session, parsed.messages[0])

    # --- batches: elements run in order; the first that waits carries the rest -------

    def _batch(self, session: Session, messages: list[Message]) -> Outcome:
        replies: list[bytes] = []
        for i, msg in enumerate(messages):
            reply = self._one(session, msg)
            if isinstance(reply, Pending):
                rest = messages[i + 1 :]
                concurrent = reply.concurrent or any(self._is_concurrent(m) for m in rest)
                return Pending(self._batch_rest(session, reply.reply, rest, replies), concurrent)
            if reply is not None:
                replies.append(reply)
        return batch_reply(replies) if replies else None

    async def _batch_rest(
        self,
        session: Session,
        waiting: Coroutine[Any, Any, bytes | None],
        rest: list[Message],
        replies: list[bytes],
    ) -> bytes | None:
        reply = await waiting
        if reply is not None:
            replies.append(reply)
        for msg in rest:
            outcome = self._one(session, msg)
            reply = await outcome.reply if isinstance(outcome, Pending) else outcome
            if reply is not None:
                replies.append(reply)
        return batch_reply(replies) if replies else None

    def _is_concurrent(self, msg: Message) -> bool:
        if not isinstance(msg, Request):
            return False
        spec = self.registry.get(msg.method)
        return spec is not None and spec.concurrent

    # --- one request ---------------------------------------------------------------------

    def _one(self, session: Session, msg: Message) -> Outcome:
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
            assert spec is not None  # a coroutine comes only from a method's own steps
            return Pending(self._finish(session, msg, label, started, outcome), spec.concurrent)
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
        if spec.camera is not None and (unseen := spec.unseen(call)) is not None:
            return unseen()  # a camera the caller may not see: as one that does not exist
        if spec.is_async:
            return self._timed(spec.handler(call))
        return spec.handler(call)

    async def _timed(self, awaitable: Any) -> Any:
        async with asyncio.timeout(self.request_timeout):
            return await awaitable

    async def _finish(
        self, session: Session, msg: Request, label: str, started: float, pending: Any
    ) -> bytes | None:
        task = asyncio.current_task()
        assert task is not None
        self._running.add(task)
        self._idle.clear()
        token = correlation_id.set(f"{session.conn_id}:{msg.id}")
        try:
            result = await pending
        except Exception as exc:
            return self._failed(session, msg, label, started, exc)
        finally:
            correlation_id.reset(token)
            self._running.discard(task)
            if not self._running:
                self._idle.set()
        return self._done(msg, label, started, result)

    def _done(self, msg: Request, label: str, started: float, result: Any) -> bytes | None:
        self.observer.request_done(label, 0, time.perf_counter() - started)
        return None if msg.is_notification else result_reply(msg.id, result)

    def _failed(
        self, session: Session, msg: Request, label: str, started: float, exc: Exception
    ) -> bytes | None:
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
            session.authenticate(identity)  # refuses a media token
        except AuthError as exc:
            self.observer.security_event("auth_failure", None, reason=exc.reason)
            raise RpcError(AUTH_REQUIRED, exc.message, {"reason": exc.reason}) from None
        return identity

    # --- shutdown ------------------------------------------------------------------------------

    @property
    def busy(self) -> int:
        """Requests in flight: waiting for a handler or an API-key lookup."""
        return len(self._running)

    async def drain(self, timeout: float) -> bool:
        """Wait for in-flight requests; True if all finished within the timeout, else
        they are cancelled (their replies are never sent)."""
        try:
            async with asyncio.timeout(timeout):
                await self._idle.wait()
            return True
        except TimeoutError:
            for task in list(self._running):
                task.cancel()
            return False
