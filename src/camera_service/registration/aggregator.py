"""The hub's HTTP aggregator as a registry backend (protocol: docs/registry.md).

``POST {url}/instances`` registers the whole document, ``PUT
{url}/instances/{id}/heartbeat`` carries its volatile part, ``DELETE
{url}/instances/{id}`` deregisters. One attempt per call: the registrar owns retries,
backoff and timing. Imported only when ``registry.backend`` is ``http``.
"""

from __future__ import annotations

from typing import Any

from camera_service.net.httpclient import HttpClient, HttpError, HttpResponse, quote_segment
from camera_service.registration.backend import Document, RegistrationLost, RegistryError

SCHEMA_VERSION = 1
# What a heartbeat repeats from the document (docs/registry.md, "Heartbeat").
HEARTBEAT_FIELDS = ("updated_at", "health", "capacity", "cameras")


def heartbeat_body(document: Document, sequence: int, interval: float) -> dict[str, Any]:
    """The volatile part of ``document`` as one heartbeat (pure: tested without sockets)."""
    body: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "instance_id": document["instance_id"],
        "sequence": sequence,
        "heartbeat_interval": interval,
    }
    body.update({key: document[key] for key in HEARTBEAT_FIELDS})
    return body


class AggregatorBackend:
    name = "http"

    def __init__(
        self,
        url: str,
        heartbeat_interval: float,
        token: str | None = None,
        timeout: float = 5.0,
    ) -> None:
        if not url.startswith("http://"):
            raise ValueError("the aggregator URL must start with http://")
        if heartbeat_interval <= 0:
            raise ValueError("heartbeat_interval must be > 0")
        headers = {"Authorization": f"Bearer {token}"} if token else None
        # One connection is enough: the registrar never overlaps two calls.
        self._client = HttpClient(url, timeout, max_connections=1, headers=headers)
        self.heartbeat_interval = heartbeat_interval
        self._instance_id: str | None = None  # set by the first register attempt
        self._registered = False
        self._sequence = 0

    def __repr__(self) -> str:
        return f"AggregatorBackend({self._client!r})"  # never the token

    def refresh_interval(self) -> float:
        return self.heartbeat_interval

    async def register(self, document: Document) -> None:
        self._instance_id = str(document["instance_id"])
        self._registered = False
        # A POST is not retried on a stale pooled connection by the client; here it is
        # safe to (registering twice replaces the same document).
        response = await self._send("POST", "/instances", document, "register", idempotent=True)
        if response.status not in (200, 201):
            raise RegistryError(_refused("register", response))
        self._registered = True
        self._sequence = 0

    async def refresh(self, document: Document, changed: bool) -> None:
        # Every heartbeat carries the whole volatile part, so a change needs nothing more.
        if not self._registered or self._instance_id is None:
            raise RegistrationLost("not registered with the aggregator")
        self._sequence += 1  # per attempt: a beat that may have arrived is never repeated
        body = heartbeat_body(document, self._sequence, self.heartbeat_interval)
        response = await self._send("PUT", self._path() + "/heartbeat", body, "heartbeat")
        if response.status == 404:
            self._registered = False
            raise RegistrationLost("the aggregator does not know this instance (404)")
        if response.status not in (200, 204):
            raise RegistryError(_refused("heartbeat", response))

    async def deregister(self) -> None:
        if self._instance_id is None:
            return  # never tried to register: nothing to remove
        self._registered = False
        response = await self._send("DELETE", self._path(), None, "deregister")
        # 404: already gone (expired, or the aggregator restarted): that is the goal.
        if response.status not in (200, 204, 404):
            raise RegistryError(_refused("deregister", response))
        self._instance_id = None

    async def close(self) -> None:
        await self._client.close()

    def _path(self) -> str:
        assert self._instance_id is not None
        return "/instances/" + quote_segment(self._instance_id)

    async def _send(
        self,
        method: str,
        path: str,
        body: Any,
        what: str,
        *,
        idempotent: bool | None = None,
    ) -> HttpResponse:
        try:
            return await self._client.request(method, path, json=body, idempotent=idempotent)
        except HttpError as exc:
            # HttpClient messages name host and port, never credentials or bodies.
            raise RegistryError(f"aggregator {what} failed: {exc}") from None


def _refused(what: str, response: HttpResponse) -> str:
    # The answer's body is not echoed: it could repeat what we sent, token included.
    return f"aggregator refused {what}: HTTP {response.status}"
