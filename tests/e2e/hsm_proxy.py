"""A TCP proxy between switch and HSM that counts the PIN verifications it carries.

It reads the switch's Thales frames (2-byte length, 4-byte header, 2-character command)
as they pass, so the count is what really reached the HSM over the socket, whatever the
switch believes it sent. Replies are passed back untouched.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter

# payShield PIN verification commands: IBM 3624 and Visa PVV, TPK and ZPK variants.
VERIFY_COMMANDS = frozenset({"DA", "DC", "EA", "EC"})
HEADER_LENGTH = 4


class CountingHsmProxy:
    def __init__(self, hsm_host: str, hsm_port: int) -> None:
        self.hsm_host, self.hsm_port = hsm_host, hsm_port
        self.commands: Counter[str] = Counter()
        self._servers: list[asyncio.Server] = []
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def verifications(self) -> int:
        return sum(self.commands[c] for c in VERIFY_COMMANDS)

    async def listen(self, port: int, host: str = "127.0.0.1") -> None:
        self._servers.append(await asyncio.start_server(self._accept, host, port,
                                                        reuse_address=True))

    async def close(self) -> None:
        for server in self._servers:
            server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for server in self._servers:
            await server.wait_closed()

    async def _accept(self, switch_r: asyncio.StreamReader, switch_w: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            hsm_r, hsm_w = await asyncio.open_connection(self.hsm_host, self.hsm_port)
        except OSError:
            switch_w.close()
            self._tasks.discard(task)
            return
        back = asyncio.create_task(self._pipe(hsm_r, switch_w))
        try:
            while True:
                length = await switch_r.readexactly(2)
                message = await switch_r.readexactly(int.from_bytes(length, "big"))
                self.commands[message[HEADER_LENGTH:HEADER_LENGTH + 2].decode("ascii",
                                                                              "replace")] += 1
                hsm_w.write(length + message)
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.CancelledError):
            pass
        finally:
            back.cancel()
            with contextlib.suppress(asyncio.CancelledError, ConnectionError):
                await back
            for writer in (hsm_w, switch_w):
                writer.close()
            self._tasks.discard(task)

    @staticmethod
    async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError):
            while data := await reader.read(65536):
                writer.write(data)
        writer.close()
