"""Running ``atmsim`` as a user does, in its own process, without blocking the test's loop."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

ATMSIM = [sys.executable, "-m", "atmsim.shell.cli"]


@dataclass(frozen=True)
class Finished:
    code: int | None  # None: it had not ended within the time given, and was killed
    stdout: str
    stderr: str

    @property
    def stderr_lines(self) -> list[str]:
        return self.stderr.splitlines()


def clean_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ATMSIM_")}
    env.update(extra or {})
    return env


async def start_atmsim(*args: str, env: Mapping[str, str] | None = None
                       ) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        *ATMSIM, *args, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE, env=clean_env(env))


async def finish(process: asyncio.subprocess.Process, timeout: float) -> Finished:
    """Its output once it ends; killed (code None) if it has not within ``timeout`` s."""
    try:
        stdout, stderr = await asyncio.wait_for(process.communicate(), timeout)
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            process.kill()
        stdout, stderr = await process.communicate()
        return Finished(None, stdout.decode(), stderr.decode())
    return Finished(process.returncode, stdout.decode(), stderr.decode())


async def run_atmsim(*args: str, env: Mapping[str, str] | None = None,
                     timeout: float = 30.0) -> Finished:
    return await finish(await start_atmsim(*args, env=env), timeout)


def port_is_free(port: int) -> bool:
    """Whether a server could listen on 127.0.0.1:``port`` now (as ours do)."""
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


async def wait_port_free(port: int, within: float = 3.0) -> bool:
    """A child that was told to stop may take a moment to release its port."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not port_is_free(port):
        if loop.time() > deadline:
            return False
        await asyncio.sleep(0.05)
    return True


async def listening(port: int) -> bool:
    try:
        _, writer = await asyncio.open_connection("127.0.0.1", port)
    except OSError:
        return False
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    return True


@contextlib.contextmanager
def port_taken(port: int) -> Iterator[socket.socket]:
    """Another program listening on 127.0.0.1:``port``."""
    holder = socket.socket()
    holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    holder.bind(("127.0.0.1", port))
    holder.listen(8)
    try:
        yield holder
    finally:
        holder.close()


def data_dir_args(path: Path) -> list[str]:
    return ["--data-dir", str(path)]
