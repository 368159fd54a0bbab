"""ONVIF discovery: a WS-Discovery probe over asyncio UDP, then each device's media
profiles and RTSP stream URIs.

The probe and its answers are built and parsed by ``wsdiscovery`` (its message
functions are sans-I/O; its own networking is threaded and sleeps, so the datagrams
are ours). The device and media services are called through ``onvif-zeep-async``.
Every step is bounded: the probe's wait, the answers' size and number, and the calls
to each device (all devices at once, each under its own deadline), so a slow or
hostile device costs at most its timeout and never the call or the service.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import uuid
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from camera_service.config import OnvifConfig

log = logging.getLogger(__name__)

# The SOAP libraries (zeep, lxml, ...) load only when a discovery runs: a service that
# never discovers keeps their import time and memory (tests/integration/test_footprint.py).
NVT = ("http://www.onvif.org/ver10/network/wsdl", "NetworkVideoTransmitter", "dn")
WS_DISCOVERY_PORT = 3702


@dataclass(frozen=True, slots=True)
class ProbeMatch:
    """One device's answer to the probe: its endpoint reference and service URLs."""

    endpoint: str
    xaddrs: tuple[str, ...]
    scopes: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Profile:
    token: str
    name: str
    width: int | None
    height: int | None
    encoding: str | None
    rtsp_uri: str | None


@dataclass(slots=True)
class Device:
    """What discovery learned of one device; ``error`` says why the rest is missing."""

    endpoint: str
    address: str  # the device service URL
    host: str
    port: int
    scopes: tuple[str, ...] = ()
    manufacturer: str | None = None
    model: str | None = None
    firmware: str | None = None
    serial: str | None = None
    profiles: list[Profile] = field(default_factory=list)
    error: str | None = None


@dataclass(frozen=True, slots=True)
class Credentials:
    username: str
    password: str


def probe_message() -> tuple[str, bytes]:
    """A WS-Discovery Probe for ONVIF video transmitters: its message id and bytes."""
    from wsdiscovery.actions import constructProbe
    from wsdiscovery.message import createSOAPMessage
    from wsdiscovery.qname import QName

    env = constructProbe([QName(*NVT)], [])
    message_id = f"urn:uuid:{uuid.uuid4()}"
    env.setMessageId(message_id)
    return message_id, str(createSOAPMessage(env)).encode()


def parse_probe_matches(data: bytes, message_id: str, source: str) -> list[ProbeMatch]:
    """The ProbeMatches in one datagram that answer our probe; [] for anything else
    (not XML, not a ProbeMatches, another probe's answer, no usable service URL)."""
    from wsdiscovery.message import parseSOAPMessage

    try:
        env = parseSOAPMessage(data, source)
    except Exception:  # wsdiscovery's DOM walk raises whatever a malformed tree gives
        return []
    if env is None or not hasattr(env, "getProbeResolveMatches"):
        return []
    if env.getRelatesTo() != message_id:
        return []
    found = []
    for match in env.getProbeResolveMatches() or []:
        xaddrs = tuple(x for x in (match.getXAddrs() or []) if _http_url(x))
        if not xaddrs:
            continue
        scopes = tuple(str(s.getValue()) for s in (match.getScopes() or []))
        found.append(ProbeMatch(str(match.getEPR() or xaddrs[0]), xaddrs, scopes))
    return found


def _http_url(value: object) -> bool:
    if not isinstance(value, str):
        return False
    parts = urlsplit(value)
    return parts.scheme in ("http", "https") and bool(parts.hostname)


def _target(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    return (host, int(port)) if host else (text, WS_DISCOVERY_PORT)


class _Collector(asyncio.DatagramProtocol):
    def __init__(self, message_id: str, limit: int, max_bytes: int) -> None:
        self.message_id = message_id
        self.limit = limit
        self.max_bytes = max_bytes
        self.matches: dict[str, ProbeMatch] = {}
        self.full = asyncio.Event()

    def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        if len(data) > self.max_bytes or self.full.is_set():
            return
        for match in parse_probe_matches(data, self.message_id, str(addr[0])):
            self.matches.setdefault(match.endpoint, match)
            if len(self.matches) >= self.limit:
                self.full.set()
                return


async def probe(config: OnvifConfig) -> list[ProbeMatch]:
    """Send the probe to each target and collect answers for ``probe_wait`` seconds
    (or until ``max_devices`` answered)."""
    message_id, message = probe_message()
    loop = asyncio.get_running_loop()
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 1)
    sock.bind(("0.0.0.0", 0))
    transport, collector = await loop.create_datagram_endpoint(
        lambda: _Collector(message_id, config.max_devices, config.max_answer_bytes), sock=sock
    )
    try:
        for target in config.probe_targets:
            try:
                transport.sendto(message, _target(target))
            except OSError as exc:  # no route to this network: the others still count
                log.warning("onvif probe to %s failed: %s", target, exc)
        # asyncio.timeout, not wait_for: 3.11's wait_for returns the answers when it is
        # cancelled just as the last one arrives, and the caller's cancel is lost.
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(config.probe_wait):
                await collector.full.wait()
        return list(collector.matches.values())
    finally:
        transport.close()


def _text(value: object) -> str | None:
    return str(value) if value not in (None, "") else None


async def _query(device: Device, credentials: Credentials | None) -> None:
    # The library signs every request; without credentials an empty token, which a
    # camera that needs none ignores.
    from onvif import ONVIFCamera

    camera = ONVIFCamera(
        device.host,
        device.port,
        credentials.username if credentials else "",
        credentials.password if credentials else "",
        # The WSDLs are the package's own files: no zeep cache written outside data_dir.
        no_cache=True,
    )
    try:
        await camera.update_xaddrs()
        management = await camera.create_devicemgmt_service()
        with contextlib.suppress(Exception):  # information is optional; profiles are not
            info = await management.GetDeviceInformation()
            device.manufacturer = _text(getattr(info, "Manufacturer", None))
            device.model = _text(getattr(info, "Model", None))
            device.firmware = _text(getattr(info, "FirmwareVersion", None))
            device.serial = _text(getattr(info, "SerialNumber", None))
        media = await camera.create_media_service()
        for profile in await media.GetProfiles() or []:
            token = str(profile.token)
            video = getattr(profile, "VideoEncoderConfiguration", None)
            resolution = getattr(video, "Resolution", None)
            answer = await media.GetStreamUri(
                {
                    "ProfileToken": token,
                    "StreamSetup": {"Stream": "RTP-Unicast", "Transport": {"Protocol": "RTSP"}},
                }
            )
            device.profiles.append(
                Profile(
                    token=token,
                    name=str(getattr(profile, "Name", None) or token),
                    width=_int(getattr(resolution, "Width", None)),
                    height=_int(getattr(resolution, "Height", None)),
                    encoding=_text(getattr(video, "Encoding", None)),
                    rtsp_uri=_text(getattr(answer, "Uri", None)),
                )
            )
    finally:
        with contextlib.suppress(Exception):
            await camera.close()


def _int(value: object) -> int | None:
    return value if isinstance(value, int) else None


def _reason(exc: BaseException) -> str:
    text = " ".join(str(exc).split())[:200]
    lowered = text.lower()
    if any(word in lowered for word in ("not authorized", "unauthorized", "401", "sender")):
        return f"authentication failed: {text}" if text else "authentication failed"
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


async def describe(match: ProbeMatch, credentials: Credentials | None, timeout: float) -> Device:
    """Ask one device for its information and profiles, within ``timeout``; a failure
    is the device's ``error``, never an exception."""
    address = match.xaddrs[0]
    parts = urlsplit(address)
    device = Device(
        endpoint=match.endpoint,
        address=address,
        host=parts.hostname or "",
        port=parts.port or (443 if parts.scheme == "https" else 80),
        scopes=match.scopes,
    )
    try:
        async with asyncio.timeout(timeout):
            await _query(device, credentials)
    except TimeoutError:
        device.error = f"no answer from the device within {timeout:g} s"
    except Exception as exc:  # a device's failure is reported, whatever the library raised
        device.error = _reason(exc)
    if device.error:
        device.profiles.clear()
    return device


def _load_libraries() -> None:
    import onvif  # noqa: F401
    import wsdiscovery.message  # noqa: F401


async def discover(config: OnvifConfig, credentials: Credentials | None = None) -> list[Device]:
    """Probe, then describe every device found, concurrently and each bounded."""
    # The SOAP libraries take a noticeable while to import the first time: in a thread,
    # so the loop keeps serving others and the time does not count against a device.
    await asyncio.to_thread(_load_libraries)
    matches = await probe(config)
    return list(
        await asyncio.gather(*(describe(m, credentials, config.device_timeout) for m in matches))
    )
