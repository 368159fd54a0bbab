"""Every line a request's steps log carries its id, "<connection>:<request id>":
its synchronous steps (through ``current_request``) and the steps that wait (through
the context variable, in their task). Nothing else gets it: not another thread's line
logged meanwhile, nor a task a handler starts."""

from __future__ import annotations

import asyncio
import logging
import threading
from typing import Any, cast

import orjson
import pytest

from camera_service.api.context import ApiContext, Components
from camera_service.api.dispatch import Dispatcher, Pending
from camera_service.api.methodtable import Call, MethodSpec, MethodTable, NoParams
from camera_service.api.session import Session
from camera_service.auth.authenticator import Authenticator
from camera_service.auth.jwt import JwtAuthenticator
from camera_service.observability.logging import RequestFilter
from tests.conftest import SECRET

log = logging.getLogger("camera_service.test.request_id")


class Quiet:
    def request_done(self, method: str, code: int, seconds: float) -> None:
        pass

    def security_event(self, event: str, actor: str | None, **detail: Any) -> None:
        pass


class Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.addFilter(RequestFilter())
        self.seen: list[tuple[str, str | None]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.seen.append((record.getMessage(), getattr(record, "request_id", None)))


@pytest.fixture
def lines() -> Any:
    handler = Lines()
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    yield handler
    log.removeHandler(handler)


async def test_each_step_of_a_request_logs_with_its_id(lines: Lines) -> None:
    started: list[asyncio.Task[None]] = []

    async def later() -> None:
        log.info("from a task the handler started")

    def sync(call: Call[NoParams]) -> str:
        log.info("sync step")
        other = threading.Thread(target=log.info, args=("another thread",))
        other.start()
        other.join()
        started.append(asyncio.get_running_loop().create_task(later()))
        return "ok"

    async def waits(call: Call[NoParams]) -> str:
        await asyncio.sleep(0)
        log.info("after a wait")
        return "ok"

    def boom(call: Call[NoParams]) -> str:
        raise RuntimeError("bug")

    methods = [
        MethodSpec("sync", sync, "", None, NoParams, str),
        MethodSpec("waits", waits, "", None, NoParams, str),
        MethodSpec("boom", boom, "", None, NoParams, str),
    ]
    table = MethodTable(methods, ApiContext(cast(Components, object())))
    dispatcher = Dispatcher(table, Authenticator(JwtAuthenticator(SECRET), None), Quiet(), 5.0)
    session = Session(1000)
    conn = session.conn_id

    def frame(method: str, rid: int) -> bytes:
        return orjson.dumps({"jsonrpc": "2.0", "method": method, "id": rid})

    assert dispatcher.handle(session, frame("sync", 7)) is not None
    await asyncio.gather(*started)
    pending = dispatcher.handle(session, frame("waits", 8))
    assert isinstance(pending, Pending)
    await pending.reply
    handler_logger = logging.getLogger("camera_service.api.dispatch")
    handler_logger.addHandler(lines)
    try:
        dispatcher.handle(session, frame("boom", 9))
    finally:
        handler_logger.removeHandler(lines)
    log.info("after the requests")
    assert lines.seen == [
        ("sync step", f"{conn}:7"),
        ("another thread", None),
        ("from a task the handler started", None),
        ("after a wait", f"{conn}:8"),
        ("handler failed", f"{conn}:9"),
        ("after the requests", None),
    ]
