"""A small JSON-RPC WebSocket client for tests, on aiohttp (real sockets)."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable
from typing import Any

import aiohttp
import orjson


class RpcClient:
    def __init__(self, ws: aiohttp.ClientWebSocketResponse, session: aiohttp.ClientSession) -> None:
        self.ws = ws
        self.session = session
        self._ids = itertools.count(1)
        self.notifications: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._pending: dict[Any, asyncio.Future[Any]] = {}
        self._reader = asyncio.get_running_loop().create_task(self._read())
        self.close_code: int | None = None

    @classmethod
    async def connect(cls, url: str, **kwargs: Any) -> RpcClient:
        session = aiohttp.ClientSession()
        try:
            ws = await session.ws_connect(url, autoping=True, **kwargs)
        except BaseException:
            await session.close()
            raise
        return cls(ws, session)

    async def _read(self) -> None:
        async for msg in self.ws:
            if msg.type is not aiohttp.WSMsgType.TEXT:
                continue
            data = orjson.loads(msg.data)
            if isinstance(data, list):
                fut = self._pending.pop("batch", None)
                if fut is not None and not fut.done():
                    fut.set_result(data)
            elif "method" in data and "id" not in data:
                self.notifications.put_nowait(data)
            else:
                fut = self._pending.pop(data.get("id"), None)
                if fut is None:
                    fut = self._pending.pop("any", None)
                if fut is not None and not fut.done():
                    fut.set_result(data)
        self.close_code = self.ws.close_code
        for fut in self._pending.values():
            if not fut.done():
                fut.set_exception(ConnectionError(f"closed with {self.close_code}"))

    async def request(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        """Send a request and return the whole reply object."""
        rid = next(self._ids)
        msg: dict[str, Any] = {"jsonrpc": "2.0", "method": method, "id": rid}
        if params is not None:
            msg["params"] = params
        reply: dict[str, Any] = await self.send_raw(orjson.dumps(msg).decode(), rid)
        return reply

    async def call(self, method: str, params: dict[str, Any] | None = None) -> Any:
        """Send a request and return its result; an error reply fails the test."""
        reply = await self.request(method, params)
        assert "error" not in reply, reply
        return reply["result"]

    async def send_raw(self, text: str, expect: Any = "any", timeout: float = 5.0) -> Any:
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending[expect] = fut
        await self.ws.send_str(text)
        return await asyncio.wait_for(fut, timeout)

    async def notification(self, timeout: float = 5.0) -> dict[str, Any]:
        return await asyncio.wait_for(self.notifications.get(), timeout)

    async def wait_notification(
        self, method: str, pred: Callable[[dict[str, Any]], bool], timeout: float = 10.0
    ) -> dict[str, Any]:
        """The params of the next ``method`` notification matching ``pred`` (others are
        skipped)."""
        async with asyncio.timeout(timeout):
            while True:
                note = await self.notification(timeout)
                if note.get("method") == method and pred(note["params"]):
                    params: dict[str, Any] = note["params"]
                    return params

    async def wait_closed(self, timeout: float = 10.0) -> int | None:
        await asyncio.wait_for(asyncio.shield(self._reader), timeout)
        return self.close_code

    async def close(self) -> None:
        await self.ws.close()
        self._reader.cancel()
        await self.session.close()
