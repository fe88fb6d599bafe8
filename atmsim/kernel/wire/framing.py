"""Frame boundaries on a TCP stream: a length header, then one message.

``2be`` (the default): 2-byte unsigned big-endian length of what follows.
``2be-incl``: the same, counting its own 2 bytes. ``4ascii``: 4 ASCII digits, and
nothing else (no space, sign or tab).
A frame longer than the bound, or a header that cannot be read, is refused with
``FrameError``: a stream cannot be resynchronised after a bad length, so the caller closes
that one connection and nothing else.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["Framing", "FrameError", "read_frame"]


class FrameError(ValueError):
    """The stream's framing is broken: the connection cannot continue."""


@dataclass(frozen=True)
class Framing:
    kind: str = "2be"
    max_frame: int = 4096

    def __post_init__(self) -> None:
        if self.kind not in ("2be", "2be-incl", "4ascii"):
            raise ValueError(f"unknown framing {self.kind!r}: use 2be, 2be-incl or 4ascii")

    @property
    def header_len(self) -> int:
        return 4 if self.kind == "4ascii" else 2

    def frame(self, payload: bytes) -> bytes:
        """Prefix ``payload`` with its length header.

        >>> Framing().frame(b"0800")
        b'\\x00\\x040800'
        """
        size = len(payload) + (2 if self.kind == "2be-incl" else 0)
        if len(payload) > self.max_frame:
            raise FrameError(f"message of {len(payload)} bytes exceeds the {self.max_frame} bound")
        if self.kind == "4ascii":
            return b"%04d" % size + payload
        return size.to_bytes(2, "big") + payload

    def body_length(self, header: bytes) -> int:
        if self.kind == "4ascii":
            if not header.isdigit():
                raise FrameError(f"length header {header!r} is not 4 ASCII digits")
            size = int(header)
        else:
            size = int.from_bytes(header, "big")
            if self.kind == "2be-incl":
                size -= 2
        if size <= 0:
            raise FrameError(f"empty or negative frame length ({size})")
        if size > self.max_frame:
            raise FrameError(f"frame length {size} exceeds the {self.max_frame} byte bound")
        return size


async def read_frame(reader: asyncio.StreamReader, framing: Framing,
                     on_start: Callable[[], object] | None = None) -> bytes | None:
    """Read one frame body; ``None`` on a clean end of stream between frames.

    ``on_start`` is called when the first byte of the frame has arrived: the switch
    starts the frame-completion clock there, not when it began waiting.

    Raises ``FrameError`` for a refused length, ``asyncio.IncompleteReadError`` when the
    peer closes in the middle of a frame.
    """
    try:
        if on_start is None:
            header = await reader.readexactly(framing.header_len)
        else:
            header = await reader.readexactly(1)
    except asyncio.IncompleteReadError as exc:
        if not exc.partial:
            return None
        raise
    if on_start is not None:
        on_start()
        header += await reader.readexactly(framing.header_len - 1)
    return await reader.readexactly(framing.body_length(header))
