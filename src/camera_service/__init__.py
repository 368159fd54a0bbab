"""Camera hub control service: WebSocket JSON-RPC 2.0 API over MediaMTX."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("camera-service")
except PackageNotFoundError:  # running from a source tree without installation
    __version__ = "0.0.0+local"
