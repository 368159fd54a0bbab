"""Capacity benchmarks: what the limits cost the service.

    python bench/capacity.py calls [--n 100000]
    python bench/capacity.py import-cost [--runs 5]

``calls`` times, in this process, ``Capacity.report()`` (asked by get_status,
``/health/system`` and every registration refresh) with the app's kind of meters and
16 of 32 streams up, and ``check_stream`` for a stream already up and for one refused
(each snapshot capture and recording start asks it): mean microseconds per call.

``import-cost`` starts a fresh interpreter per run, imports ``camera_service.config``
(capacity's only dependency, always loaded by the service), then
``camera_service.limits``, and reports the RSS and module-count growth of the
second import. Figures are printed and written as JSON into ``bench/results/``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "src"))

from camera_service.config import validate  # noqa: E402
from camera_service.limits import Capacity, CapacityExceeded  # noqa: E402

RESULTS = ROOT / "bench" / "results"

_IMPORT_PROBE = """
import sys
import camera_service.config
def rss_kb():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
before, mods = rss_kb(), len(sys.modules)
import camera_service.limits
print(rss_kb() - before, len(sys.modules) - mods)
"""


def per_call_us(fn: Any, n: int) -> float:
    t0 = time.perf_counter()
    for _ in range(n):
        fn()
    return (time.perf_counter() - t0) / n * 1e6


def calls(n: int) -> dict[str, Any]:
    settings = validate({"resources": {"max_streams": 16}})
    cap = Capacity(lambda: settings)
    owned = {f"camera{i}" for i in range(32)}
    up = {f"camera{i}" for i in range(16)}
    cap.track_streams(lambda: {name for name in owned if name in up})
    cap.track_devices(lambda camera_id: False)
    for resource, active in (("usb_cameras", 4), ("recordings", 2), ("snapshots", 1)):
        cap.meter(resource, lambda active=active: active)  # type: ignore[arg-type,misc]
    connections: dict[int, object] = {i: object() for i in range(500)}
    cap.meter("connections", lambda: len(connections))

    def refused() -> None:
        try:
            cap.check_stream("camera31")
        except CapacityExceeded:
            pass
        else:  # pragma: no cover - the bench is wrong
            raise AssertionError("camera31 should be refused")

    return {
        "n": n,
        "report_us": round(per_call_us(cap.report, n), 2),
        "check_stream_up_us": round(per_call_us(lambda: cap.check_stream("camera3"), n), 2),
        "check_stream_refused_us": round(per_call_us(refused, n), 2),
    }


def import_cost(runs: int) -> dict[str, Any]:
    rss, modules = [], []
    for _ in range(runs):
        out = subprocess.run(
            [sys.executable, "-c", _IMPORT_PROBE],
            capture_output=True,
            text=True,
            check=True,
            env={"PYTHONPATH": str(ROOT / "src")},
        ).stdout.split()
        rss.append(int(out[0]))
        modules.append(int(out[1]))
    return {"runs": runs, "rss_kb_median": statistics.median(rss), "modules": max(modules)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="mode", required=True)
    sub.add_parser("calls").add_argument("--n", type=int, default=100_000)
    sub.add_parser("import-cost").add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    result = calls(args.n) if args.mode == "calls" else import_cost(args.runs)
    result["mode"] = args.mode
    print(json.dumps(result, indent=2))
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"capacity-{args.mode}-{int(time.time())}.json"
    out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
