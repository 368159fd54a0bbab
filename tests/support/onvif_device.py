"""A simulated ONVIF camera on loopback: a WS-Discovery responder (UDP) and the device
and media services (SOAP 1.2 over HTTP), serving one profile whose stream URI is given.

Written from the ONVIF and WS-Discovery specifications, independently of the service's
code: the answers are literal XML, the requests are read with ElementTree.

    async with OnvifDevice(rtsp_uri, user="admin", password="pw") as device:
        device.probe_target  # "127.0.0.1:PORT": where a directed probe reaches it

``hang_media=True`` makes the media service accept requests and never answer.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import socket
import uuid
import xml.etree.ElementTree as ET
from xml.sax.saxutils import escape

from aiohttp import web

SOAP = "http://www.w3.org/2003/05/soap-envelope"
WSA = "http://schemas.xmlsoap.org/ws/2004/08/addressing"
WSD = "http://schemas.xmlsoap.org/ws/2005/04/discovery"
WSSE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
WSU = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd"
TDS = "http://www.onvif.org/ver10/device/wsdl"
TRT = "http://www.onvif.org/ver10/media/wsdl"
TT = "http://www.onvif.org/ver10/schema"

ENVELOPE = (
    '<?xml version="1.0" encoding="UTF-8"?>'
    f'<s:Envelope xmlns:s="{SOAP}" xmlns:tds="{TDS}" xmlns:trt="{TRT}" xmlns:tt="{TT}"'
    ' xmlns:ter="http://www.onvif.org/ver10/error">'
    "<s:Body>{body}</s:Body></s:Envelope>"
)
NOT_AUTHORIZED = (
    "<s:Fault><s:Code><s:Value>s:Sender</s:Value><s:Subcode><s:Value>ter:NotAuthorized"
    '</s:Value></s:Subcode></s:Code><s:Reason><s:Text xml:lang="en">Sender not authorized'
    "</s:Text></s:Reason></s:Fault>"
)
# Answered without credentials, as cameras do (the client learns the service URLs first).
OPEN_OPERATIONS = {"GetServices", "GetCapabilities", "GetSystemDateAndTime"}


class OnvifDevice:
    def __init__(
        self,
        rtsp_uri: str,
        *,
        user: str | None = None,
        password: str | None = None,
        width: int = 640,
        height: int = 360,
        hang_media: bool = False,
        multicast: bool = False,
        manufacturer: str = "SimCam",
        model: str = "Sim-1",
    ) -> None:
        self.rtsp_uri, self.user, self.password = rtsp_uri, user, password
        self.width, self.height, self.hang_media = width, height, hang_media
        self.multicast = multicast  # listen on the WS-Discovery group on lo (own netns only)
        self.manufacturer, self.model = manufacturer, model
        self.endpoint = f"urn:uuid:{uuid.uuid4()}"
        self.probes = 0
        self.media_requests = 0
        self._runner: web.AppRunner | None = None
        self._udp: asyncio.DatagramTransport | None = None
        self._http_port = 0
        self._udp_port = 0
        self._never = asyncio.Event()

    @property
    def address(self) -> str:
        return f"http://127.0.0.1:{self._http_port}/onvif/device_service"

    @property
    def probe_target(self) -> str:
        return f"127.0.0.1:{self._udp_port}"

    async def __aenter__(self) -> OnvifDevice:
        app = web.Application()
        app.router.add_post("/onvif/device_service", self._device)
        app.router.add_post("/onvif/media_service", self._media)
        self._runner = web.AppRunner(app, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        server = site._server
        assert isinstance(server, asyncio.base_events.Server)
        self._http_port = server.sockets[0].getsockname()[1]
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_datagram_endpoint(
            lambda: _Responder(self), sock=self._udp_socket()
        )
        self._udp = transport
        self._udp_port = transport.get_extra_info("sockname")[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._never.set()
        if self._udp is not None:
            self._udp.close()
        if self._runner is not None:
            await self._runner.cleanup()

    # --- WS-Discovery -----------------------------------------------------------------

    def _udp_socket(self) -> socket.socket:
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        if not self.multicast:
            sock.bind(("127.0.0.1", 0))
            return sock
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("239.255.255.250", 3702))
        group = socket.inet_aton("239.255.255.250") + socket.inet_aton("127.0.0.1")
        sock.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, group)
        return sock

    def probe_match(self, probe: bytes) -> bytes | None:
        try:
            root = ET.fromstring(probe)
        except ET.ParseError:
            return None
        action = root.findtext(f".//{{{WSA}}}Action", "").strip()
        message_id = root.findtext(f".//{{{WSA}}}MessageID", "").strip()
        if not action.endswith("/discovery/Probe") or not message_id:
            return None
        self.probes += 1
        return (
            '<?xml version="1.0" encoding="UTF-8"?>'
            f'<s:Envelope xmlns:s="{SOAP}" xmlns:a="{WSA}" xmlns:d="{WSD}"'
            ' xmlns:dn="http://www.onvif.org/ver10/network/wsdl"><s:Header>'
            f"<a:MessageID>urn:uuid:{uuid.uuid4()}</a:MessageID>"
            f"<a:RelatesTo>{escape(message_id)}</a:RelatesTo>"
            f"<a:To>{WSA}/role/anonymous</a:To>"
            f"<a:Action>{WSD}/ProbeMatches</a:Action>"
            '<d:AppSequence InstanceId="1" MessageNumber="1"/>'
            "</s:Header><s:Body><d:ProbeMatches><d:ProbeMatch>"
            f"<a:EndpointReference><a:Address>{self.endpoint}</a:Address></a:EndpointReference>"
            "<d:Types>dn:NetworkVideoTransmitter</d:Types>"
            f"<d:Scopes>onvif://www.onvif.org/name/{self.manufacturer}"
            f" onvif://www.onvif.org/hardware/{self.model}</d:Scopes>"
            f"<d:XAddrs>{self.address}</d:XAddrs>"
            "<d:MetadataVersion>1</d:MetadataVersion>"
            "</d:ProbeMatch></d:ProbeMatches></s:Body></s:Envelope>"
        ).encode()

    # --- SOAP -------------------------------------------------------------------------

    def _authorized(self, root: ET.Element) -> bool:
        if self.user is None:
            return True
        token = root.find(f".//{{{WSSE}}}UsernameToken")
        if token is None:
            return False
        user = token.findtext(f"{{{WSSE}}}Username", "")
        digest = token.findtext(f"{{{WSSE}}}Password", "")
        nonce = token.findtext(f"{{{WSSE}}}Nonce", "")
        created = token.findtext(f"{{{WSU}}}Created", "")
        expected = base64.b64encode(
            hashlib.sha1(
                base64.b64decode(nonce) + created.encode() + (self.password or "").encode()
            ).digest()
        ).decode()
        return user == self.user and digest == expected

    async def _answer(self, request: web.Request, answers: dict[str, str]) -> web.Response:
        root = ET.fromstring(await request.read())
        body = root.find(f"{{{SOAP}}}Body")
        operation = body[0].tag.rpartition("}")[2] if body is not None and len(body) else ""
        if operation not in OPEN_OPERATIONS and not self._authorized(root):
            return _soap(NOT_AUTHORIZED, status=400)
        if operation not in answers:
            return web.Response(status=400, text=f"unknown operation {operation}")
        return _soap(answers[operation])

    async def _device(self, request: web.Request) -> web.Response:
        media = self.address.replace("device_service", "media_service")
        services = "".join(
            f"<tds:Service><tds:Namespace>{ns}</tds:Namespace><tds:XAddr>{url}</tds:XAddr>"
            "<tds:Version><tt:Major>2</tt:Major><tt:Minor>60</tt:Minor></tds:Version>"
            "</tds:Service>"
            for ns, url in ((TDS, self.address), (TRT, media))
        )
        return await self._answer(
            request,
            {
                "GetServices": f"<tds:GetServicesResponse>{services}</tds:GetServicesResponse>",
                "GetDeviceInformation": (
                    "<tds:GetDeviceInformationResponse>"
                    f"<tds:Manufacturer>{self.manufacturer}</tds:Manufacturer>"
                    f"<tds:Model>{self.model}</tds:Model>"
                    "<tds:FirmwareVersion>1.0</tds:FirmwareVersion>"
                    "<tds:SerialNumber>SIM0001</tds:SerialNumber>"
                    "<tds:HardwareId>1</tds:HardwareId>"
                    "</tds:GetDeviceInformationResponse>"
                ),
            },
        )

    async def _media(self, request: web.Request) -> web.Response:
        self.media_requests += 1
        if self.hang_media:
            await request.read()
            await self._never.wait()  # read, never answered (until the device stops)
        profile = (
            '<trt:Profiles token="main" fixed="true"><tt:Name>mainStream</tt:Name>'
            '<tt:VideoEncoderConfiguration token="venc0"><tt:Name>venc0</tt:Name>'
            "<tt:UseCount>1</tt:UseCount><tt:Encoding>H264</tt:Encoding>"
            f"<tt:Resolution><tt:Width>{self.width}</tt:Width>"
            f"<tt:Height>{self.height}</tt:Height></tt:Resolution>"
            "<tt:Quality>5</tt:Quality></tt:VideoEncoderConfiguration></trt:Profiles>"
        )
        return await self._answer(
            request,
            {
                "GetProfiles": f"<trt:GetProfilesResponse>{profile}</trt:GetProfilesResponse>",
                "GetStreamUri": (
                    "<trt:GetStreamUriResponse><trt:MediaUri>"
                    f"<tt:Uri>{escape(self.rtsp_uri)}</tt:Uri>"
                    "<tt:InvalidAfterConnect>false</tt:InvalidAfterConnect>"
                    "<tt:InvalidAfterReboot>false</tt:InvalidAfterReboot>"
                    "<tt:Timeout>PT0S</tt:Timeout>"
                    "</trt:MediaUri></trt:GetStreamUriResponse>"
                ),
            },
        )


def _soap(body: str, status: int = 200) -> web.Response:
    return web.Response(
        status=status,
        body=ENVELOPE.format(body=body).encode(),
        content_type="application/soap+xml",
        charset="utf-8",
    )


class _Responder(asyncio.DatagramProtocol):
    def __init__(self, device: OnvifDevice) -> None:
        self.device = device
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # a datagram endpoint's

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        answer = self.device.probe_match(data)
        if answer is not None and self.transport is not None:
            self.transport.sendto(answer, addr)
