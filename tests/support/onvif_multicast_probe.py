"""Run inside a network namespace of its own (``ip netns exec``): the simulated device
listens on the WS-Discovery multicast group over lo, the service's probe is sent to
the group with the default settings, and the endpoints found are printed as JSON."""

from __future__ import annotations

import asyncio
import json

from camera_service.cameras import onvif
from camera_service.config import OnvifConfig
from tests.support.onvif_device import OnvifDevice


async def main() -> None:
    async with OnvifDevice("rtsp://127.0.0.1:8554/cam", multicast=True) as device:
        matches = await onvif.probe(OnvifConfig(probe_wait=1.0))
        print(json.dumps({"expected": device.endpoint, "found": [m.endpoint for m in matches]}))


if __name__ == "__main__":
    asyncio.run(main())
