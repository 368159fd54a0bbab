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

What one frame may cost is bounded (``jsonrpc.Limits``): its values and batch length
before any element runs, every element (valid or not) a token of the rate budget, the
reply's bytes as it is built, and a long batch yields to the loop every
``BATCH_SLICE`` so other connections are served meanwhile.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Callable, Coroutine
from time import perf_counter
from types import CoroutineType
from typing import Any, Protocol

from camera_service.api.jsonrpc import (
    AUTH_REQUIRED,
    INTERNAL_ERROR,
    METHOD_NOT_FOUND,
    PERMISSION_DENIED,
    RATE_LIMITED,
    Invalid,
    Limits,
    Message,
    Request,
    RpcError,
    batch_reply,
    error_reply,
    read_frame,
    result_reply,
)
from camera_service.api.methodtable import NO_PARAMS, Call, MethodSpec, MethodTable, NoParams
from camera_service.api.session import Session
from camera_service.auth.identity import AuthError, Identity
from camera_service.config import ServerConfig
from camera_service.observability.logging import current_request, request_id

log = logging.getLogger(__name__)

# Seconds a batch runs before it lets the loop serve other connections: one frame's
# work never holds the others up much longer than this and one element.
BATCH_SLICE = 0.002
# Seconds requests cancelled at the shutdown deadline get to send their replies.
CANCEL_GRACE = 1.0


def limits_of(cfg: ServerConfig) -> Limits:
    return Limits(cfg.max_batch_requests, cfg.max_message_values, cfg.max_reply_bytes)


def _rate_limited() -> RpcError:
    return RpcError(RATE_LIMITED, "Rate limit exceeded", {"reason": "rate_limited"})


def _shutting_down() -> RpcError:
    return RpcError(
        INTERNAL_ERROR, "Internal error: the service is shutting down", {"reason": "shutting_down"}
    )


def _too_large(limit: int, size: int | None = None) -> RpcError:
    what = "the batch's replies pass" if size is None else f"{size} bytes, more than"
    return RpcError(
        INTERNAL_ERROR,
        f"Internal error: reply too large ({what} the limit of {limit} bytes)",
        {"reason": "reply_too_large", "limit": limit},
    )


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
        limits: Limits | None = None,
    ) -> None:
        self.registry = registry
        self.auth = authenticator
        self.observer = observer
        self.request_timeout = request_timeout
        self.clock = clock
        self.limits = limits_of(ServerConfig()) if limits is None else limits
        self._reply_bytes = self.limits.reply_bytes
        self._spec = registry.getter()
        # The tasks running a request that waits (whoever runs it): drain() counts
        # them and cancels them at its deadline.
        self._running: set[asyncio.Task[Any]] = set()
        self._idle = asyncio.Event()
        self._idle.set()
        self._stopped = False  # drain() passed its deadline and cancelled what ran
        self._current = current_request
        current_request.bind()

    # --- the entry point ------------------------------------------------------------

    def handle(self, session: Session, payload: str | bytes) -> Outcome:
        """Process one frame as far as it goes without waiting."""
        read = read_frame(payload, self.limits)
        if isinstance(read, list):
            return self._batch(session, read)
        return self._one(session, read)

    # --- batches: elements run in order; the first that waits carries the rest -------

    def _batch(self, session: Session, messages: list[Message]) -> Outcome:
        replies = _Replies(self._reply_bytes)
        slice_end = time.perf_counter() + BATCH_SLICE
        for i, msg in enumerate(messages):
            reply = self._one(session, msg)
            if isinstance(reply, Pending):
                rest = messages[i + 1 :]
                concurrent = reply.concurrent or any(self._is_concurrent(m) for m in rest)
                first = replies.add_when_done(msg, reply.reply)
                return Pending(self._batch_rest(session, first, rest, replies), concurrent)
            replies.add(msg, reply)
            if time.perf_counter() > slice_end and i + 1 < len(messages):
                rest = messages[i + 1 :]
                concurrent = any(self._is_concurrent(m) for m in rest)
                return Pending(self._batch_rest(session, None, rest, replies), concurrent)
        return replies.reply()

    async def _batch_rest(
        self,
        session: Session,
        first: Coroutine[Any, Any, None] | None,
        rest: list[Message],
        replies: _Replies,
    ) -> bytes | None:
        """The rest of a batch, from the element that waits (``first``) or from where its
        time slice ended (None: the loop's next turn)."""
        if first is None:
            await asyncio.sleep(0)
        else:
            await first
        slice_end = time.perf_counter() + BATCH_SLICE
        for msg in rest:
            outcome = self._one(session, msg)
            replies.add(msg, await outcome.reply if isinstance(outcome, Pending) else outcome)
            if time.perf_counter() > slice_end:
                await asyncio.sleep(0)  # other connections' turn
                slice_end = time.perf_counter() + BATCH_SLICE
        return replies.reply()

    def _is_concurrent(self, msg: Message) -> bool:
        if not isinstance(msg, Request):
            return False
        spec = self.registry.get(msg.method)
        return spec is not None and spec.concurrent

    # --- one request ---------------------------------------------------------------------

    def _one(self, session: Session, msg: Message) -> Outcome:
        started = perf_counter()
        if type(msg) is Invalid:  # costs a token like any request: it costs the service
            admitted = session.rate.admit(session.tat, started)
            if admitted is None:
                error = _rate_limited()
            else:
                session.tat, error = admitted, msg.error
            self.observer.request_done("invalid", error.code, perf_counter() - started)
            return None if msg.is_notification else error_reply(msg.id, error)
        assert type(msg) is Request
        spec = self._spec(msg.method)
        label = spec.name if spec is not None else "unknown"  # bounded metric labels
        current = self._current
        current.id = (session.conn_id, msg.id)
        try:
            # Every step that needs no waiting (a coroutine is returned for the rest),
            # in one frame: this is every request's path.
            # RateLimit.admit, inline (its clock is perf_counter's)
            tat = session.tat
            rate = session.rate
            if tat < started:
                tat = started
            elif tat - started > rate.tolerance:
                raise _rate_limited()
            session.tat = tat + rate.interval
            if spec is None:
                raise RpcError(
                    METHOD_NOT_FOUND,
                    f"Method not found: {msg.method[:64]}",
                    {"reason": "method_not_found"},
                )
            identity = session.identity
            if spec.role is None:
                outcome = (
                    spec.handler(session.bare_call or self._bare_call(session))
                    if spec.plain  # _invoke's first case, without its frame
                    else self._invoke(session, msg, spec)
                )
            elif identity is None or (problem := self.auth.recheck(identity, self.clock())):
                outcome = self._authenticate_then_call(
                    session, msg, spec, None if identity is None else problem
                )
            else:
                if identity.role < spec.role:
                    self._deny(session, identity, spec)
                outcome = (
                    spec.handler(session.bare_call or self._bare_call(session))
                    if spec.plain
                    else self._invoke(session, msg, spec)
                )
        except Exception as exc:
            return self._failed(session, msg, label, started, exc)
        finally:
            current.id = None
        if type(outcome) is CoroutineType:
            assert spec is not None  # a coroutine comes only from a method's own steps
            return Pending(self._finish(session, msg, label, started, outcome), spec.concurrent)
        if msg.is_notification:
            self._record(session, msg, label, 0, started)
            return None
        reply = result_reply(msg.id, outcome)
        if len(reply) > self._reply_bytes:
            return self._too_large(session, msg, label, started, reply)
        # _record, inline: this is every request's path
        seconds = perf_counter() - started
        self.observer.request_done(label, 0, seconds)
        if log.isEnabledFor(logging.DEBUG):  # a cached check: the hot path pays no more
            self._log_done(session, msg, label, 0, seconds)
        return reply

    def _invoke(self, session: Session, req: Request, spec: MethodSpec) -> Any:
        if spec.takes_params:
            call = Call(spec.validate(req.params), session, self.registry.ctx)
        else:  # params ignored (extra="ignore"): the same call every time
            call = session.bare_call or self._bare_call(session)
        if spec.camera is not None and (unseen := spec.unseen(call)) is not None:
            return unseen()  # a camera the caller may not see: as one that does not exist
        if not spec.is_async:
            return spec.handler(call)
        camera_id = None if spec.camera is None else spec.camera.of(call.params)
        if camera_id is None:
            return self._timed(spec.handler(call))
        return self._held(session, camera_id, spec.handler(call))

    def _bare_call(self, session: Session) -> Call[NoParams]:
        call = session.bare_call = Call(NO_PARAMS, session, self.registry.ctx)
        return call

    async def _timed(self, awaitable: Any) -> Any:
        async with asyncio.timeout(self.request_timeout):
            return await awaitable

    async def _held(self, session: Session, camera_id: str, awaitable: Any) -> Any:
        """Run a handler about one camera; notifications about it to this connection wait
        until its reply is written (a reply comes before what its request caused)."""
        session.hold(camera_id)
        try:
            return await self._timed(awaitable)
        finally:
            session.release(camera_id)  # the transport sends what it kept after the reply

    async def _finish(
        self, session: Session, msg: Request, label: str, started: float, pending: Any
    ) -> bytes | None:
        task = asyncio.current_task()
        assert task is not None
        self._running.add(task)
        self._idle.clear()
        token = request_id.set((session.conn_id, msg.id))
        try:
            result = await pending
        except Exception as exc:
            return self._failed(session, msg, label, started, exc)
        except asyncio.CancelledError:
            if not self._stopped:
                raise  # the connection is gone: nobody to answer
            # Cancelled at the shutdown deadline: the client still gets its reply (with
            # its id) before the connection closes, rather than waiting for its timeout.
            task.uncancel()
            return self._failed(session, msg, label, started, _shutting_down())
        finally:
            request_id.reset(token)
            self._running.discard(task)
            if not self._running:
                self._idle.set()
        return self._done(session, msg, label, started, result)

    def _done(
        self, session: Session, msg: Request, label: str, started: float, result: Any
    ) -> bytes | None:
        if msg.is_notification:
            self._record(session, msg, label, 0, started)
            return None
        reply = result_reply(msg.id, result)
        if len(reply) > self._reply_bytes:
            return self._too_large(session, msg, label, started, reply)
        self._record(session, msg, label, 0, started)
        return reply

    def _too_large(
        self, session: Session, msg: Request, label: str, started: float, reply: bytes
    ) -> bytes:
        log.warning(
            "reply too large",
            extra={"method": label, "bytes": len(reply), "limit": self._reply_bytes},
        )
        self._record(session, msg, label, INTERNAL_ERROR, started)
        return error_reply(msg.id, _too_large(self._reply_bytes, len(reply)))

    def _record(
        self, session: Session, msg: Request, label: str, code: int, started: float
    ) -> None:
        seconds = perf_counter() - started
        self.observer.request_done(label, code, seconds)
        if log.isEnabledFor(logging.DEBUG):
            self._log_done(session, msg, label, code, seconds)

    @staticmethod
    def _log_done(session: Session, msg: Request, label: str, code: int, seconds: float) -> None:
        log.debug(
            "request done",
            extra={
                "request_id": f"{session.conn_id}:{msg.id}",
                "method": label,
                "code": code,
                "duration_ms": round(seconds * 1000, 3),
            },
        )

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
            # correlation_id: the name this had before error_ref, kept for existing clients
            data = {"reason": "internal_error", "error_ref": ref, "correlation_id": ref}
            err = RpcError(INTERNAL_ERROR, message, data)
        self._record(session, msg, label, err.code, started)
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
            identity = await self.authenticate(session, token, "auto", spec.name)
        elif problem is not None:
            self.observer.security_event(
                "auth_failure", None, reason=problem.reason, ip=session.peer, method=spec.name
            )
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
            self._deny(session, identity, spec)
        result = self._invoke(session, req, spec)
        return await result if isinstance(result, CoroutineType) else result

    def _deny(self, session: Session, identity: Identity, spec: MethodSpec) -> None:
        assert spec.role is not None
        self.observer.security_event(
            "role_denied",
            identity.user_id,
            method=spec.name,
            role=identity.role.label,
            ip=session.peer,
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

    async def authenticate(
        self, session: Session, token: str, auth_type: str, method: str = "authenticate"
    ) -> Identity:
        """Verify a token and bind the identity to this session only."""
        try:
            identity = await self.auth.authenticate(token, auth_type)
            session.authenticate(identity)  # refuses a media token
        except AuthError as exc:
            self.observer.security_event(
                "auth_failure", None, reason=exc.reason, ip=session.peer, method=method
            )
            raise RpcError(AUTH_REQUIRED, exc.message, {"reason": exc.reason}) from None
        return identity

    # --- shutdown ------------------------------------------------------------------------------

    @property
    def busy(self) -> int:
        """Requests in flight: waiting for a handler or an API-key lookup."""
        return len(self._running)

    async def drain(self, timeout: float) -> bool:
        """Wait for in-flight requests; True if all finished within the timeout, else
        they are cancelled and answered -32603 (``reason: shutting_down``)."""
        try:
            async with asyncio.timeout(timeout):
                await self._idle.wait()
            return True
        except TimeoutError:
            self._stopped = True
            cancelled = list(self._running)
            for task in cancelled:
                task.cancel()
            # Their replies (shutting_down) are written before the connections close;
            # a handler's own clean-up on cancellation gets a moment too.
            await asyncio.wait(cancelled, timeout=CANCEL_GRACE)
            return False


class _Replies:
    """A batch's replies so far, within the reply bound: once they would pass it, each
    further element's reply is replaced by a short error (the element has run)."""

    __slots__ = ("limit", "parts", "size")

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.parts: list[bytes] = []
        self.size = 1  # the brackets, and a comma per reply after the first

    def add(self, msg: Message, reply: bytes | None) -> None:
        if reply is None:
            return
        if self.size + len(reply) + 1 > self.limit:
            reply = error_reply(msg.id, _too_large(self.limit))
        self.parts.append(reply)
        self.size += len(reply) + 1

    async def add_when_done(self, msg: Message, pending: Coroutine[Any, Any, bytes | None]) -> None:
        self.add(msg, await pending)

    def reply(self) -> bytes | None:
        return batch_reply(self.parts) if self.parts else None
