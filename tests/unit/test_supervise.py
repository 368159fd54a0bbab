"""keep_running: the restart loop the snapshot grabbers and the stream holders share."""

from __future__ import annotations

from camera_service.media.supervise import keep_running

BACKOFF = (0.001, 0.004)  # pauses short enough not to slow the test down


async def restarts(healthy_run: float, runs: int) -> list[tuple[str, float, int]]:
    """(why, pause, short runs in a row) after each of ``runs`` instant runs."""
    seen: list[tuple[str, float, int]] = []
    count = 0

    async def run_once() -> str:
        nonlocal count
        count += 1
        return f"run {count}"

    def ended(why: str, pause: float, failures: int) -> bool:
        seen.append((why, pause, failures))
        return len(seen) < runs

    await keep_running(run_once, BACKOFF, healthy_run, ended)
    return seen


async def test_short_runs_double_the_pause_up_to_the_longest() -> None:
    assert await restarts(3600.0, 5) == [
        ("run 1", 0.001, 1),
        ("run 2", 0.002, 2),
        ("run 3", 0.004, 3),
        ("run 4", 0.004, 4),
        ("run 5", 0.004, 5),
    ]


async def test_healthy_runs_keep_the_first_pause_and_no_failures() -> None:
    assert await restarts(0.0, 3) == [("run 1", 0.001, 0), ("run 2", 0.001, 0), ("run 3", 0.001, 0)]
