"""Where a bench script keeps its figures: one JSON file per run in ``bench/results/``
(gitignored), named ``<name>-<UTC time>.json``, with the command that produced it."""

from __future__ import annotations

import json
import shlex
import sys
import time
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"


def write_result(name: str, result: dict[str, Any]) -> Path:
    """Write ``result`` (and how to run it again) to a new file; its path."""
    script = f"bench/{Path(sys.argv[0]).name}"
    command = "python " + shlex.join([script, *sys.argv[1:]])
    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    out = RESULTS / f"{name}-{stamp}.json"
    out.write_text(json.dumps({"command": command, **result}, indent=2) + "\n")
    return out
