"""Running ``atmsim load`` as a user does: its own process, its own arguments."""

from __future__ import annotations

import asyncio
import os
import sys
from dataclasses import dataclass

LOAD = [sys.executable, "-m", "atmsim.shell.load"]


@dataclass(frozen=True)
class Finished:
    code: int
    stdout: str
    stderr: str


async def atmsim_load(*args: str, timeout: float = 60.0) -> Finished:
    """Run the command without blocking the event loop the test's stack runs on."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ATMSIM_")}
    process = await asyncio.create_subprocess_exec(
        *LOAD, *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env)
    stdout, stderr = await asyncio.wait_for(process.communicate(), timeout)
    assert process.returncode is not None
    return Finished(process.returncode, stdout.decode(), stderr.decode())


def switch_of(stack) -> str:  # type: ignore[no-untyped-def]
    assert stack.switch is not None
    return f"{stack.switch.host}:{stack.switch.port}"
