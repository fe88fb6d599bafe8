"""What a replay does to a captured exchange, as pure functions: pair each captured request
with its captured reply, rewrite what must be fresh, and compare the replies field by field.

Rewritten (when the request has them): 11 a new STAN from the replaying link; 7 the time
of sending (UTC); 12 and 13 the same moment in the terminal's time zone; 37 the RRN of the
new 12/13 and STAN (docs/wire.md); an 0420/0421's 37 and 90 point at the replayed original
when it was replayed. A masked PAN is restored from the cards given (first 6 and last 4
must name one card); a masked track 2 becomes ``PAN=expiry101``. A raw capture's PIN block
is translated from the capture's clear TPK to the target's when both are given (so a
wrong PIN stays wrong); otherwise a PIN block is made anew from the card's clear PIN under
the target's clear TPK when both are given (a masked capture: the PIN typed is not in it,
the card's right PIN is used), else a raw capture's block is sent as it is; a masked one
cannot be sent.

Compared: every field of the two replies except those that must differ (``IGNORED``), both
masked, so a diff never shows a PAN or a PIN block.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo

from atmsim.kernel.crypto.tdes import decrypt_ecb, encrypt_ecb
from atmsim.kernel.masking import mask_pan
from atmsim.kernel.unmatched import response_type
from atmsim.kernel.wire import IsoMessage
from atmsim.shell.capture import HIDDEN_FIELDS, REPLY, REQUEST, Frame, mask_message
from atmsim.shell.load.cards import LoadCard
from terminal_ui.device.pinpad import PinEntryError, PinPad
from terminal_ui.device.transactions import retrieval_reference

__all__ = ["IGNORED", "CapturedExchange", "ReplayRefused", "Rewrite", "field_diff",
           "pair_exchanges", "rewrite_request"]

# Fields a replayed reply must differ in: times, STAN, RRN, approval code, the hop timings
# an ATM asked for (63, docs/observability.md); and the fields that are secret or depend
# on them (PIN data, MACs), which a diff could not show anyway.
IGNORED = ("7", "11", "12", "13", "37", "38", "63", *HIDDEN_FIELDS)


class ReplayRefused(ValueError):
    """A captured request that cannot be sent again; the message says why."""


@dataclass
class CapturedExchange:
    """A captured request and the reply it got in the capture (None: it got none)."""

    number: int  # 1-based, in capture order
    request: Frame
    reply: Frame | None


def pair_exchanges(frames: Iterable[Frame]) -> list[CapturedExchange]:
    """The requests of a capture, each with the first later reply on its connection that
    carries its 41, 11 and response MTI."""
    exchanges: list[CapturedExchange] = []
    waiting: dict[tuple[int, str, str, str], CapturedExchange] = {}
    for frame in frames:
        mti = frame.fields.get("t", "")
        key = (frame.conn, frame.fields.get("41", ""), frame.fields.get("11", ""))
        if frame.direction == REQUEST:
            exchange = CapturedExchange(len(exchanges) + 1, frame, None)
            exchanges.append(exchange)
            if len(mti) == 4 and mti[2] in "02468":
                waiting[(*key, response_type(mti))] = exchange
        elif frame.direction == REPLY:
            found = waiting.pop((*key, mti), None)
            if found is None and "41" not in frame.fields:  # a 30 may not echo 41
                found = next((waiting.pop(k) for k in list(waiting)
                              if k[0] == frame.conn and k[2:] == key[2:] + (mti,)), None)
            if found is not None:
                found.reply = frame
    return exchanges


@dataclass
class Rewrite:
    """What the replay needs beyond the capture: the cards (to restore masked PANs and
    make PIN blocks) and the target terminal's clear TPK."""

    cards: Sequence[LoadCard] = ()
    tpk: PinPad | None = None
    # clear TPKs (bytes) to translate a raw capture's PIN blocks: (the capture's, the target's)
    translate: tuple[bytes, bytes] | None = None
    zone: tzinfo = UTC
    # (41, captured STAN) of each original replayed -> its new 11, 7 and 37
    originals: dict[tuple[str, str], tuple[str, str, str]] | None = None

    def card(self, masked: str) -> LoadCard:
        found = [c for c in self.cards if mask_pan(c.pan) == masked or c.pan == masked]
        if len(found) != 1:
            why = "no card given matches" if not found else "several cards match"
            raise ReplayRefused(f"PAN {masked}: {why} (--cards)")
        return found[0]


def rewrite_request(frame: Frame, stan: str, now: datetime, how: Rewrite) -> IsoMessage:
    """The request to send again for a captured one; ``ReplayRefused`` if it cannot be."""
    if frame.error is not None:
        raise ReplayRefused(f"did not decode in the capture ({frame.error})")
    message = dict(frame.fields)
    card: LoadCard | None = None
    pan = message.get("2")
    if pan is not None and "*" in pan:
        card = how.card(pan)
        message["2"] = card.pan
    elif pan is not None:
        card = next((c for c in how.cards if c.pan == pan), None)
    if "35" in message and "*" in message["35"]:
        if card is None:
            raise ReplayRefused("track 2 is masked and no card gives its PAN")
        message["35"] = f"{card.pan}={message.get('14', card.expiry)}101"
    if "52" in message:
        message["52"] = _pin_block(message, card, frame, how)
    for key in ("53", "55", "64", "128"):
        if key in message and "*" in message[key]:
            raise ReplayRefused(f"field {key} is masked in the capture (a raw capture keeps it)")
    local = now.astimezone(how.zone)
    captured_stan = message.get("11", "")
    message["11"] = stan
    if "7" in message:
        message["7"] = now.astimezone(UTC).strftime("%m%d%H%M%S")
    if "12" in message:
        message["12"] = local.strftime("%H%M%S")
    if "13" in message:
        message["13"] = local.strftime("%m%d")
    if "37" in message:
        message["37"] = retrieval_reference(local, stan)
    if message.get("t", "")[:2] == "04":
        _point_at_original(message, how)
    if how.originals is not None:
        how.originals[(message.get("41", ""), captured_stan)] = (
            stan, message.get("7", ""), message.get("37", ""))
    return message


def _pin_block(message: IsoMessage, card: LoadCard | None, frame: Frame, how: Rewrite) -> str:
    block = message["52"]
    if how.translate is not None and "*" not in block:
        source, target = how.translate
        try:
            return encrypt_ecb(target, decrypt_ecb(source, bytes.fromhex(block))).hex().upper()
        except ValueError:
            raise ReplayRefused("the captured PIN block is not 8 bytes of hex") from None
    if how.tpk is not None:
        if card is None:
            card = how.card(message.get("2", ""))
        try:
            return how.tpk.encrypt_pin(card.pin, card.pan)
        except PinEntryError as exc:
            raise ReplayRefused(f"PIN of {mask_pan(card.pan)}: {exc}") from None
    if "*" in message["52"]:
        raise ReplayRefused("the PIN block is masked in the capture: give --tpk and --cards "
                            "to make a new one")
    return message["52"]


def _point_at_original(message: IsoMessage, how: Rewrite) -> None:
    """A reversal names its original by STAN, time and RRN: the replayed original's."""
    original = message.get("90", "")
    if how.originals is None or len(original) != 42:
        return
    replayed = how.originals.get((message.get("41", ""), original[4:10]))
    if replayed is None:
        return
    new_stan, new_time, new_rrn = replayed
    message["90"] = original[:4] + new_stan + (new_time or original[10:20]) + original[20:]
    if new_rrn and "37" in message:
        message["37"] = new_rrn


def field_diff(captured: IsoMessage, replayed: IsoMessage,
               ignored: Sequence[str] = IGNORED) -> list[str]:
    """The fields in which two replies differ, masked, ignoring ``ignored``.

    >>> field_diff({"t": "0210", "39": "00", "11": "000001"},
    ...            {"t": "0210", "39": "55", "11": "000777"})
    ["39: captured '00', replayed '55'"]
    >>> field_diff({"t": "0210", "2": "5264220000100010"}, {"t": "0210"})
    ["2: captured '526422******0010', replayed (absent)"]
    """
    old, new = mask_message(captured), mask_message(replayed)
    keys = sorted(set(old) | set(new), key=lambda k: -1 if k == "t" else int(k))
    lines = []
    for key in keys:
        if key in ignored or old.get(key) == new.get(key):
            continue
        name = "MTI" if key == "t" else key
        lines.append(f"{name}: captured {_shown(old.get(key))}, replayed {_shown(new.get(key))}")
    return lines


def _shown(value: str | None) -> str:
    return "(absent)" if value is None else repr(value)
