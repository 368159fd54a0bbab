"""Cameras: the registry (single source of truth), V4L2 discovery and hot-plug,
configured RTSP and test-pattern sources, and the hub's device assignments."""
