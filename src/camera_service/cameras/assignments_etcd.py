"""Hub device assignments from an etcd key (``cameras.assignments_key``), watched.

The value has the assignments file's format (YAML or JSON). Every change goes to the
camera monitor as an edit of the file would: an absent key claims no USB device, an
invalid value is logged and refused while the last good assignments stay in force.
"""

from __future__ import annotations

import logging

from camera_service.cameras.assignments import AssignmentError, Assignments, parse_assignments
from camera_service.cameras.monitor import CameraMonitor
from camera_service.net.etcd import EtcdClient

log = logging.getLogger(__name__)


def decode_assignments(value: bytes | None, key: str) -> tuple[Assignments | None, str]:
    """The assignments in a value of ``key`` (None: absent) and the error refusing it."""
    if value is None:
        return None, ""
    origin = f"etcd key {key}"
    try:
        return parse_assignments(value.decode("utf-8"), origin), ""
    except UnicodeDecodeError:
        return None, f"{origin} is not UTF-8 text"
    except AssignmentError as exc:
        return None, str(exc)


async def watch_assignments(client: EtcdClient, key: str, monitor: CameraMonitor) -> None:
    """Follow ``key`` for as long as the task runs (etcd outages included)."""
    async for value in client.watch(key):
        new, error = decode_assignments(value, key)
        try:
            await monitor.set_assignments(new, error)
        except Exception:  # a failed rescan must not end the watch; the next change retries
            log.exception("applying the device assignments from etcd failed")
