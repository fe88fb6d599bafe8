"""``atmsim switch`` as its own process, in front of a test stack's HSM, broker and cards.

For what a process has on its own: its descriptor limit, its log file.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

from atmsim.shell.stack import Stack
from tests.conftest import free_port


@asynccontextmanager
async def switch_process(stack: Stack, config: str, stderr: Path,
                         preexec_fn: Callable[[], None] | None = None,
                         log: Path | None = None) -> AsyncIterator[tuple[int, int]]:
    """Run ``atmsim switch`` with ``config`` (TOML, at INFO or below); yield its port and
    process ID once it listens and has reached the broker (as its log, stderr unless
    ``log`` is given, says)."""
    assert stack.hsm is not None and stack.endpoint is not None
    port = free_port()
    path = stderr.with_suffix(".toml")
    path.write_text(f"data_dir = {str(stack.data_dir)!r}\n{config}\n")
    env = dict(os.environ, ATMSIM_SWITCH_PORT=str(port), ATMSIM_HSM_PORT=str(stack.hsm.port),
               ATMSIM_MQTT_URL=stack.endpoint.secret_url, ATMSIM_MQTT_PROTOCOL="3.1.1",
               ATMSIM_MQTT_SHARED_SUBSCRIPTIONS="no")
    atmsim = str(Path(sys.executable).with_name("atmsim"))
    with open(stderr, "wb") as err:
        proc = await asyncio.create_subprocess_exec(
            atmsim, "switch", "--config", str(path), env=env, stdout=subprocess.PIPE,
            stderr=err, preexec_fn=preexec_fn)
    try:
        assert proc.stdout is not None
        line = await asyncio.wait_for(proc.stdout.readline(), 30)
        assert b"switch listening" in line, (line, stderr.read_text())
        # It listens before its MQTT session is up: an inquiry now would get 91.
        assert "connected to MQTT broker" in await wait_for_text(
            log or stderr, "connected to MQTT broker", 15)
        yield port, proc.pid
    finally:
        if proc.returncode is None:
            proc.terminate()
        try:
            await asyncio.wait_for(proc.wait(), 10)
        except TimeoutError:
            proc.kill()
            await proc.wait()


async def wait_for_text(path: Path, text: str, seconds: float) -> str:
    """The file's content once it holds ``text`` (or after ``seconds``)."""
    deadline = time.monotonic() + seconds
    content = ""
    while time.monotonic() < deadline:
        content = path.read_text(errors="replace") if path.exists() else ""
        if text in content:
            break
        await asyncio.sleep(0.1)
    return content
