"""Frame boundaries on a TCP stream: a length header, then one message.

``2be`` (the default): 2-byte unsigned big-endian length of what follows.
``2be-incl``: the same, counting its own 2 bytes. ``4ascii``: 4 ASCII digits, and
nothing else (no space, sign or tab).
A frame longer than the bound, or a header that cannot be read, is refused with
``FrameError``: a stream cannot be resynchronised after a bad length, so the caller closes
that one connection and nothing else.

The same framing serves ISO 8583 between ATM and switch and the payShield host commands
between switch and HSM (``PAYSHIELD_FRAMING``: ``2be``, where an empty message is a
request to answer, not a broken stream). Streams read with :func:`read_frame`; an
``asyncio.Protocol`` cuts what it has received with :meth:`Framing.cut`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["Framing", "FrameError", "PAYSHIELD_FRAMING", "read_frame"]


class FrameError(ValueError):
    """The stream's framing is broken: the connection cannot continue. ``size`` is the
    length the header announced, when it could be read."""

    def __init__(self, reason: str, size: int | None = None) -> None:
        super().__init__(reason)
        self.size = size


@dataclass(frozen=True)
class Framing:
    """A length-header framing: ``kind``, the largest body accepted and whether a body may
    be empty (for ISO 8583 an empty frame is a broken stream)."""

    kind: str = "2be"
    max_frame: int = 4096
    allow_empty: bool = False

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
        if size < 0 or (size == 0 and not self.allow_empty):
            raise FrameError(f"empty or negative frame length ({size})", size)
        if size > self.max_frame:
            raise FrameError(f"frame length {size} exceeds the {self.max_frame} byte bound",
                             size)
        return size

    def cut(self, buffer: bytes | bytearray, at: int = 0) -> tuple[bytes, int] | None:
        """The body of the frame that starts at ``at`` in ``buffer`` and where the next one
        starts; None while the frame is not all there. Raises ``FrameError`` as soon as
        the header is, if it announces a length that is refused.

        >>> Framing().cut(b"\\x00\\x040800\\x00\\x02")
        (b'0800', 6)
        >>> Framing().cut(b"\\x00\\x02", 0) is None
        True
        """
        start = at + (4 if self.kind == "4ascii" else 2)
        if len(buffer) < start:
            return None
        # A server runs this once a frame: a good 2be header is read in place, anything
        # else (and every refusal, with its reason) goes through body_length.
        size = buffer[at] << 8 | buffer[at + 1]
        if self.kind == "2be" and (size or self.allow_empty) and size <= self.max_frame:
            end = start + size
        else:
            end = start + self.body_length(bytes(buffer[at:start]))
        if len(buffer) < end:
            return None
        return bytes(buffer[start:end]), end


# payShield host commands: 2-byte length; an empty or short message gets an error reply
# (ZZ 15). The bound is what the header can say; a server sets a lower one for requests.
PAYSHIELD_FRAMING = Framing("2be", max_frame=0xFFFF, allow_empty=True)


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
