"""The benchmark table's arithmetic (bench/ceiling.py): rounds rotate, ratios pair."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

import ceiling


def run(cpu_us: float, rps: float) -> dict[str, float]:
    return {"cpu_us": cpu_us, "rps": rps, "p50_ms": 1.0, "p99_ms": 2.0}


def test_every_side_leads_a_round_in_turn() -> None:
    sides = ["A", "B", "ceiling"]
    firsts = [ceiling.rotated(sides, r)[0] for r in range(3)]
    assert firsts == ["A", "B", "ceiling"]
    assert all(sorted(ceiling.rotated(sides, r)) == sorted(sides) for r in range(5))


def test_the_ratio_is_the_median_of_each_rounds_own() -> None:
    # Round 2 ran on a slower machine for both sides: its own ratio is still 0.5.
    assert ceiling.paired_ratio([10.0, 30.0, 12.0], [20.0, 60.0, 20.0]) == 0.5


def test_the_table_has_a_row_per_call_with_medians_and_the_ratio() -> None:
    row = ceiling.ROWS_BY_KEY["ping:100"]
    runs = {
        "service": {row.key: [run(20.0, 50_000), run(16.0, 60_000), run(18.0, 40_000)]},
        "ceiling": {row.key: [run(10.0, 90_000), run(8.0, 95_000), run(9.9, 80_000)]},
    }
    lines = ceiling.table([row], runs, ["service"]).splitlines()
    assert lines[0].startswith("| call | conns | service CPU-µs/req | ceiling CPU-µs/req |")
    assert set(lines[1]) <= {"|", "-"}
    cells = [c.strip() for c in lines[2].strip("|").split("|")]
    # ratios per round 0.5, 0.5, 0.55: median 0.5; busy = cpu_us * rps: 100 %, 96 %, 72 %
    assert cells[:5] == ["ping", "100", "18.0", "9.9", "0.50"]
    assert cells[5] == "50,000"
    assert cells[-1] == "96 %"
