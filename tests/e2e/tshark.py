"""tshark capturing the loopback traffic of one TCP port, for the tests that read it back.

Needs tshark and the right to capture on the loopback interface (root in CI). Skipped
without them, unless ATMSIM_REQUIRE_TSHARK=1 (set by .ci/run), where that is a failure.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

__all__ = ["capturing", "need_tshark"]


def need_tshark() -> str:
    tshark = shutil.which("tshark")
    if tshark is None or (os.geteuid() != 0 and not os.access("/usr/bin/dumpcap", os.X_OK)):
        if os.environ.get("ATMSIM_REQUIRE_TSHARK") == "1":
            pytest.fail("ATMSIM_REQUIRE_TSHARK=1 but tshark cannot capture here")
        pytest.skip("tshark not installed or no capture rights")
    return tshark


@contextlib.asynccontextmanager
async def capturing(port: int, capture: Path) -> AsyncIterator[None]:
    """tshark writes ``tcp port {port}`` on ``lo`` to ``capture`` while the block runs."""
    proc = await asyncio.create_subprocess_exec(
        need_tshark(), "-i", "lo", "-f", f"tcp port {port}", "-w", str(capture),
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
    assert proc.stderr is not None
    try:
        line = await asyncio.wait_for(proc.stderr.readline(), 30)
        while b"Capturing on" not in line:
            line = await asyncio.wait_for(proc.stderr.readline(), 30)
        await asyncio.sleep(0.5)
        yield
        await asyncio.sleep(1.0)  # the last packets reach the file
    finally:
        proc.terminate()
        await proc.wait()
