"""Modules the idle service does not load: imported on first use, in a thread.

An import runs module code and unmarshals its bytecode while holding the event loop;
a thread keeps other clients served meanwhile. Callers then ``from ... import`` the
module as usual (typed, and instant once it is in ``sys.modules``).
"""

from __future__ import annotations

import asyncio
import importlib
import sys


async def import_off_loop(name: str) -> None:
    """Import module ``name`` in a thread, unless it is imported already."""
    if name not in sys.modules:
        await asyncio.to_thread(importlib.import_module, name)
