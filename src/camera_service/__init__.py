"""Camera hub control service: WebSocket JSON-RPC 2.0 API over MediaMTX."""

# The single source of the version (pyproject reads it from here). Kept as a literal:
# importlib.metadata would cost the running service ~5 MB of imports to look it up.
__version__ = "0.2.0"

# Before any pydantic model is built: the service uses no pydantic plugins, and looking
# for them loads importlib.metadata (see pydantic_plugins).
from camera_service.pydantic_plugins import skip_discovery

skip_discovery()
