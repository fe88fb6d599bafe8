"""The header some networks put in front of the MTI, inside the frame: a TPDU or fixed bytes.

A **TPDU** (transport protocol data unit, 5 bytes) is what a network access controller
(NAC) routes on: an ID byte (``60``), the destination NII (2 bytes) and the source NII
(2 bytes). A terminal sends ``60 0001 0000`` (to host 0001); the host answers with the
destination and source swapped, ``60 0000 0001``, which is how the NAC returns the answer
to the terminal it came from. A **fixed** header is echoed as it came. The switch does not
route on a header and accepts any bytes in it; a frame shorter than its header cannot be
read (no MTI) and is dropped.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["MessageHeader", "HEADER_KINDS"]

HEADER_KINDS = ("none", "tpdu", "fixed")
_TPDU_LEN = 5


@dataclass(frozen=True)
class MessageHeader:
    """``kind`` and the bytes a client sends (``value``); ``none`` is no header at all.

    >>> tpdu = MessageHeader("tpdu", bytes.fromhex("6000010000"))
    >>> tpdu.answer(bytes.fromhex("6000010002")).hex()
    '6000020001'
    >>> MessageHeader("fixed", b"ISO016").answer(b"ISO023")
    b'ISO023'
    """

    kind: str = "none"
    value: bytes = b""

    def __post_init__(self) -> None:
        if self.kind not in HEADER_KINDS:
            raise ValueError(f"header kind {self.kind!r}: use {', '.join(HEADER_KINDS)}")
        if self.kind == "none" and self.value:
            raise ValueError("a header of kind none has no value")
        if self.kind == "tpdu" and len(self.value) != _TPDU_LEN:
            raise ValueError(f"a TPDU is {_TPDU_LEN} bytes (10 hex digits), "
                             f"got {len(self.value)}")
        if self.kind == "fixed" and not self.value:
            raise ValueError("a fixed header needs its bytes (value)")

    @property
    def length(self) -> int:
        return len(self.value)

    def answer(self, received: bytes) -> bytes:
        """The header of the answer to a message that came with ``received``."""
        if self.kind == "tpdu":
            return received[:1] + received[3:5] + received[1:3]
        return received
