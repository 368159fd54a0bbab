"""The composition root: every part made from the settings (``build``), started and
stopped through one exit stack (``lifecycle``), driven by signals (``application``)."""

from camera_service.app.application import Application, run
from camera_service.app.lifecycle import DEREGISTER_TIMEOUT, RECORDING_SHUTDOWN_TIMEOUT

__all__ = ["DEREGISTER_TIMEOUT", "RECORDING_SHUTDOWN_TIMEOUT", "Application", "run"]
