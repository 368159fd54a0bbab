"""Probing a V4L2 node with ``v4l2-ctl``: a subprocess with a timeout and retries.

The executable runs with an argument list (never a shell), in its own session so a
timeout kills it and anything it started. A node that disappears before or during a
probe ends it with ``ProbeError("unplugged")``: an unplug is news, not a failure.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
from collections.abc import Callable
from pathlib import Path
from typing import Literal, TypeVar

from camera_service import childproc
from camera_service.cameras.v4l2.formats import (
    Capabilities,
    DeviceInfo,
    FormatParseError,
    parse_formats,
    parse_info,
)

log = logging.getLogger(__name__)

ProbeErrorKind = Literal["unplugged", "timeout", "failed"]
T = TypeVar("T")


class ProbeError(Exception):
    def __init__(self, kind: ProbeErrorKind, message: str, *, retryable: bool = True) -> None:
        super().__init__(message)
        self.kind: ProbeErrorKind = kind
        self.message = message
        self.retryable = retryable

    def __repr__(self) -> str:
        return f"ProbeError({self.kind!r}, {self.message!r})"


class V4l2Prober:
    def __init__(
        self,
        v4l2_ctl: str,
        timeout: float,
        retries: int,
        *,
        backoff: float = 0.1,
        max_backoff: float = 2.0,
    ) -> None:
        self.v4l2_ctl = v4l2_ctl
        self.timeout = timeout
        self.retries = retries
        self.backoff = backoff
        self.max_backoff = max_backoff

    async def info(self, device: Path) -> DeviceInfo:
        """``v4l2-ctl --device D --info``, parsed."""
        return await self._probe(device, "--info", parse_info)

    async def formats(self, device: Path) -> Capabilities:
        """``v4l2-ctl --device D --list-formats-ext``, parsed."""
        return await self._probe(device, "--list-formats-ext", parse_formats)

    async def _probe(self, device: Path, option: str, parse: Callable[[str], T]) -> T:
        text = await self.run(device, option)
        try:
            return parse(text)
        except FormatParseError as exc:
            # Same input, same parse: retrying would not help.
            message = f"unexpected {option} output: {exc}"
            raise ProbeError("failed", message, retryable=False) from None

    async def run(self, device: Path, *options: str) -> str:
        """Run v4l2-ctl on one device, retrying failures; returns its stdout."""
        attempts = self.retries + 1
        for attempt in range(attempts):
            _check_present(device)
            try:
                output = await self._run_once(device, options)
                # Enumeration on a vanishing node just stops early and exits 0: output
                # taken while the node went away is not the device's answer.
                _check_present(device)
                return output
            except ProbeError as exc:
                if exc.kind == "unplugged":
                    raise
                _check_present(device)  # a failure caused by an unplug is an unplug
                if not exc.retryable or attempt + 1 >= attempts:
                    raise
                delay = min(self.max_backoff, self.backoff * 2**attempt)
                log.debug(
                    "v4l2 probe failed; retrying",
                    extra={"device": str(device), "error": str(exc), "attempt": attempt + 1},
                )
            # Jitter keeps the probes of many cameras plugged at once from lining up.
            await asyncio.sleep(delay * random.uniform(0.5, 1.0))
        raise AssertionError("unreachable")

    async def _run_once(self, device: Path, options: tuple[str, ...]) -> str:
        argv = [self.v4l2_ctl, "--device", str(device), *options]
        try:
            # Not the loop's subprocess: childproc starts it with vfork (the fan-out
            # after a hot-plug would pay for a fork of the service).
            done = await childproc.run(argv, timeout=self.timeout)
        except OSError as exc:
            # Missing or non-executable v4l2-ctl: no retry will fix that.
            message = f"cannot run {self.v4l2_ctl}: {exc.strerror or exc}"
            raise ProbeError("failed", message, retryable=False) from None
        except childproc.ChildTimeout:
            raise ProbeError(
                "timeout", f"{' '.join(options)} on {device} took over {self.timeout:g}s"
            ) from None
        if done.returncode != 0:
            lines = done.stderr.decode(errors="replace").strip().splitlines()
            detail = lines[-1] if lines else f"exit status {done.returncode}"
            raise ProbeError("failed", detail)
        return done.stdout.decode(errors="replace")


def _check_present(device: Path) -> None:
    if not os.path.exists(device):
        raise ProbeError("unplugged", f"{device} no longer exists")
