"""pydantic without plugin discovery: ~1.1 MB less idle RSS (docs/benchmarks.md).

On its first model pydantic looks for plugins among the entry points of every installed
distribution (``pydantic.plugin._loader``). That loader imports ``importlib.metadata``
and, with it, zipfile, csv, email parsing and ~20 more modules, which stay loaded for
the life of the service; it uses no pydantic plugin. :func:`skip_discovery` registers a
loader that has none before pydantic can import its own: pydantic imports it inside
``create_schema_validator``, on first use, by this name. Should a pydantic release move
it, the stand-in is simply never consulted (the tests check the saving holds).
"""

from __future__ import annotations

import sys
import types
from collections.abc import Iterable
from typing import Any

LOADER = "pydantic.plugin._loader"


def _no_plugins() -> Iterable[Any]:
    return ()


def skip_discovery() -> None:
    """Make pydantic see no plugins; a no-op once pydantic has loaded its own loader."""
    if LOADER in sys.modules:
        return
    loader = types.ModuleType(LOADER, "pydantic plugins: none (camera_service.pydantic_plugins)")
    setattr(loader, "get_plugins", _no_plugins)  # noqa: B010 - a module built at run time
    sys.modules[LOADER] = loader
