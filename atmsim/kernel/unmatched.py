"""Why a reply matched no pending request: the nearest pending request and the key part
that differs (MTI class, field 41, field 11, a header, a TPDU, a bus request id).

A link matches a reply to its request by a key: the ATM by response MTI + 41 + 11, the
switch's HSM link by the payShield message header, the bus by the request id. A reply
that matches nothing is usually one classic fault of the peer: the STAN is not echoed,
the MTI class is wrong (an 0810 for an 0200), or a header or TPDU is added in front of
the MTI. :func:`explain_unmatched` names it in one line; :class:`UnmatchedReplyLog` logs
that line, rate limited, and remembers requests that timed out so that a reply to one of
them is called late, not unknown. Nothing here is secret: keys hold no PAN or PIN data.
"""

from __future__ import annotations

import logging
import re
import time
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, fields, replace

from atmsim.kernel.log_limits import RateLimitedLog
from atmsim.kernel.wire.fields import MTI
from atmsim.kernel.wire.profile import WireError, WireProfile

__all__ = ["MatchKey", "UnmatchedReplyLog", "explain_unmatched", "header_text",
           "hsm_reply_key", "iso_reply_key", "response_type"]

_LABELS = {"mti": "MTI class", "terminal": "41", "stan": "11", "header": "header",
           "tpdu": "TPDU", "request_id": "id"}
_TPDU_ID = 0x60  # the first byte of an ISO 8583 TPDU (protocol id), then 2+2 bytes
_TRAILING_NUMBER = re.compile(r"[0-9]+(?=\W*$)")  # a STAN, a header counter, an id's count
_LONGEST_HEADER = 32  # bytes searched ahead of an MTI for an added header


@dataclass(frozen=True)
class MatchKey:
    """The parts of a message a link matches on; "" is a part this link does not use.

    For a pending request, ``mti`` is the request's type (its reply's is derived) and
    ``age`` the seconds since it was sent, when the link knows it.
    """

    mti: str = ""
    terminal: str = ""
    stan: str = ""
    header: str = ""
    tpdu: str = ""
    request_id: str = ""
    age: float | None = None

    def describe(self) -> str:
        shown = [self.mti] if self.mti else []
        shown += [f"{_LABELS[name]}={getattr(self, name)}"
                  for name in ("terminal", "stan", "header", "tpdu", "request_id")
                  if getattr(self, name)]
        return " ".join(shown) or "(no key)"


def response_type(request_type: str) -> str:
    """The type of the reply a request expects: an ISO 8583 MTI's function plus one, a
    repeat answered as its original; a payShield command code's second letter plus one.

    >>> response_type("0200"), response_type("0421"), response_type("0800")
    ('0210', '0430', '0810')
    >>> response_type("DA"), response_type("NC")
    ('DB', 'ND')
    """
    if MTI.fullmatch(request_type):
        origin = int(request_type[3])
        if origin <= 5:
            origin -= origin % 2
        return f"{request_type[:2]}{int(request_type[2]) + 1}{origin}"
    if len(request_type) == 2 and request_type[1].isalpha() and request_type[1] != "Z":
        return request_type[0] + chr(ord(request_type[1]) + 1)
    return request_type


def _differences(reply: MatchKey, request: MatchKey) -> list[str]:
    found = []
    for part in fields(MatchKey):
        name = part.name
        if name == "age":
            continue
        got, sent = getattr(reply, name), getattr(request, name)
        if name == "mti":
            if got and sent and got != response_type(sent):
                found.append(f"MTI class ({got} for a {sent}, which expects "
                             f"{response_type(sent)})")
        elif name in ("header", "tpdu"):
            if got != sent:
                found.append(f"{_LABELS[name]} ({got or 'none'} where the request had "
                             f"{sent or 'none'})")
        elif got and sent and got != sent:
            found.append(f"{_LABELS[name]} ({got} vs {sent})")
    return found


def _distance(reply: MatchKey, request: MatchKey) -> tuple[int, int, float]:
    """Fewest differing parts first, then the nearest STAN (or header), then the newest."""
    near = 0
    for name in ("stan", "header", "request_id"):
        got = _TRAILING_NUMBER.search(getattr(reply, name))
        sent = _TRAILING_NUMBER.search(getattr(request, name))
        if got and sent:
            near += abs(int(got.group()) - int(sent.group()))
    return len(_differences(reply, request)), near, request.age or 0.0


def explain_unmatched(reply: MatchKey, pending: Iterable[MatchKey],
                      timed_out: Iterable[MatchKey] = ()) -> str:
    """One line on a reply that matched no pending request.

    >>> sent = [MatchKey("0200", "BNI00001", "000123", age=0.4)]
    >>> print(explain_unmatched(MatchKey("0210", "BNI00001", "000124"), sent))
    ... # doctest: +NORMALIZE_WHITESPACE
    reply 0210 41=BNI00001 11=000124 matches no pending request; nearest: 0200 41=BNI00001
    11=000123 (sent 0.4 s ago), which differs in 11 (000124 vs 000123)
    >>> explain_unmatched(MatchKey("0810", "BNI00001", "000123"), sent)[-58:]
    'differs in MTI class (0810 for a 0200, which expects 0210)'
    >>> print(explain_unmatched(MatchKey("0210", "BNI00001", "000123"), [],
    ...                         [MatchKey("0200", "BNI00001", "000123", age=31.0)]))
    ... # doctest: +NORMALIZE_WHITESPACE
    late reply 0210 41=BNI00001 11=000123: its request 0200 41=BNI00001 11=000123 timed out
    (sent 31.0 s ago)
    """
    shown = reply.describe()
    for request in timed_out:
        if not _differences(reply, request):
            return f"late reply {shown}: its request {request.describe()} timed out{_ago(request)}"
    candidates = list(pending)
    if not candidates:
        return f"reply {shown} matches no pending request; none is pending"
    nearest = min(candidates, key=lambda request: _distance(reply, request))
    parts = _differences(reply, nearest)
    why = " and ".join(parts) if parts else "nothing this link matches on (answered already?)"
    return (f"reply {shown} matches no pending request; nearest: {nearest.describe()}"
            f"{_ago(nearest)}, which differs in {why}")


def _ago(request: MatchKey) -> str:
    return "" if request.age is None else f" (sent {request.age:.1f} s ago)"


def header_text(data: bytes) -> str:
    """A header for a log line: its text when printable ASCII, else its hex.

    >>> header_text(b"0042"), header_text(b"\\x01\\xff")
    ("'0042'", '01FF')
    """
    text = data.decode("ascii", "replace")
    return repr(text) if text.isprintable() and text.isascii() else data.hex().upper()


def hsm_reply_key(message: bytes, header_len: int) -> MatchKey:
    """The key of a payShield reply: its message header and response code.

    >>> hsm_reply_key(b"0042DB00", 4).describe()
    "DB header='0042'"
    """
    code = message[header_len:header_len + 2]
    return MatchKey(code.decode("ascii", "replace") if code.isalpha() else "",
                    header=header_text(message[:header_len]))


def iso_reply_key(raw: bytes, profile: WireProfile) -> MatchKey:
    """The key of a received ISO 8583 message, finding a TPDU or a header added ahead of
    its MTI when the message does not decode as it is.

    >>> from atmsim.kernel.wire import default_profile
    >>> profile = default_profile()
    >>> body = profile.encode({"t": "0210", "11": "000123", "41": "BNI00001"})
    >>> iso_reply_key(b"ISO0" + body, profile).describe()
    "0210 41=BNI00001 11=000123 header='ISO0'"
    >>> iso_reply_key(bytes.fromhex("6000010002") + body, profile).describe()
    '0210 41=BNI00001 11=000123 TPDU=6000010002'
    """
    # The message, or the rest after a prefix, that decodes in full; failing that, one
    # whose fields can at least be salvaged (a peer may add a header and break a field).
    for strict in (True, False):
        found = _iso_key(raw, profile, strict)
        if found is not None:
            return found
        if len(raw) > 5 and raw[0] == _TPDU_ID:
            found = _iso_key(raw[5:], profile, strict)
            if found is not None:
                return replace(found, tpdu=raw[:5].hex().upper())
        for start in range(1, min(_LONGEST_HEADER, len(raw) - 4) + 1):
            if MTI.fullmatch(raw[start:start + 4].decode("ascii", "replace")):
                found = _iso_key(raw[start:], profile, strict)
                if found is not None:
                    return replace(found, header=header_text(raw[:start]))
    return MatchKey(header=f"{header_text(raw[:8])}... (no MTI found)")


def _iso_key(raw: bytes, profile: WireProfile, strict: bool) -> MatchKey | None:
    try:
        message = profile.decode(raw)
    except WireError:
        if strict:
            return None
        message = profile.salvage(raw)
        if "11" not in message:
            return None
    return MatchKey(message.get("t", ""), message.get("41", ""), message.get("11", ""))


class UnmatchedReplyLog:
    """Explains and logs the replies a link could not match, once per ``interval`` per
    link and counted beyond that, so a peer that answers everything wrong cannot flood the
    log; remembers the last ``remember`` requests that timed out, to call a reply late."""

    def __init__(self, logger: logging.Logger, link: str, *, interval: float = 60.0,
                 remember: int = 256) -> None:
        self.link = link
        self._log = RateLimitedLog(logger, interval)
        # (request, when it was sent on the monotonic clock)
        self._timed_out: deque[tuple[MatchKey, float]] = deque(maxlen=remember)
        self.count = 0

    def timed_out(self, request: MatchKey) -> None:
        """A request of this link got no reply in time (``age``: how long it waited)."""
        self._timed_out.append((request, time.monotonic() - (request.age or 0.0)))

    def unmatched(self, reply: MatchKey, pending: Iterable[MatchKey]) -> None:
        """Log why ``reply`` matched none of ``pending``."""
        self.count += 1
        now = time.monotonic()
        late = tuple(replace(request, age=now - sent) for request, sent in self._timed_out)
        self._log.warning(f"unmatched:{self.link}", "%s: %s", self.link,
                          _Explanation(reply, tuple(pending), late))


@dataclass(frozen=True)
class _Explanation:
    """Formatted only if the line is logged: a flood of unmatched replies costs a count."""

    reply: MatchKey
    pending: tuple[MatchKey, ...]
    timed_out: tuple[MatchKey, ...]

    def __str__(self) -> str:
        return explain_unmatched(self.reply, self.pending, self.timed_out)
