"""V4L2 adapter: sysfs discovery, hot-plug wake-ups, and capability probing.

``sysfs`` finds nodes and their USB identity, ``hotplug`` says when to look again,
``probe`` runs v4l2-ctl (timeout, retries, unplug-aware), ``formats`` parses its output,
and ``ioctl`` is the only module that talks to a real device.
"""

from camera_service.cameras.v4l2.formats import (
    Capabilities,
    DeviceInfo,
    FormatParseError,
    Mode,
    SizeRates,
    parse_formats,
    parse_info,
)
from camera_service.cameras.v4l2.hotplug import DeviceWatcher
from camera_service.cameras.v4l2.probe import ProbeError, V4l2Prober
from camera_service.cameras.v4l2.sysfs import V4l2Node, identity, scan

__all__ = [
    "Capabilities",
    "DeviceInfo",
    "DeviceWatcher",
    "FormatParseError",
    "Mode",
    "ProbeError",
    "SizeRates",
    "V4l2Node",
    "V4l2Prober",
    "identity",
    "parse_formats",
    "parse_info",
    "scan",
]
