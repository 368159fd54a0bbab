"""Is a cancel honoured when it lands just as the awaited thing finishes?

Python 3.11's ``asyncio.wait_for`` returns normally when its task is cancelled in the
loop step in which its inner await completes: the cancel is lost and the task goes on.
Which step that is depends on how many hops the inner await takes (a shield adds
some), so :func:`assert_cancel_never_lost` cancels at each step after the finish in
turn, until the code under test has returned before the cancel.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

# Starts the code under test in a task, returns once that task waits on its inner
# await, with the task and what makes that await complete.
Start = Callable[[], Awaitable[tuple["asyncio.Task[object]", Callable[[], None]]]]

MAX_STEPS = 10  # more loop steps than any inner await here takes to reach its caller


class Gate:
    """An inner await the test opens: :meth:`wait` blocks until :meth:`open`."""

    def __init__(self) -> None:
        self.entered = asyncio.Event()
        self.opened = asyncio.Event()

    async def wait(self) -> None:
        self.entered.set()
        await self.opened.wait()

    def open(self) -> None:
        self.opened.set()


async def assert_cancel_never_lost(start: Start, deadline: float = 5.0) -> None:
    """For k = 0, 1, ...: start, finish the inner await, let k loop steps run, cancel.
    The task must end cancelled each time, until it ends on its own before the cancel."""
    for steps in range(MAX_STEPS):
        task, finish = await start()
        finish()
        for _ in range(steps):
            await asyncio.sleep(0)
        if task.done():
            assert steps > 0, "the code under test did not wait on its inner await"
            await task
            return
        task.cancel()
        done, _ = await asyncio.wait((task,), timeout=deadline)
        if not done:
            task.cancel()
        assert task.cancelled(), (
            f"a cancel {steps} loop steps after the inner await finished was lost: "
            + ("the task went on" if not done else f"it returned {task.result()!r}")
        )
    raise AssertionError(f"still running {MAX_STEPS} loop steps after the finish")
