"""What a scenario's values become on the wire: variables, generated STAN/RRN/time, PIN
blocks, MACs, field 90, and the built-in message templates. Pure functions.

Generated values (``${new.stan}``, ``${new.rrn}``, ``${new.time}``...) are drawn once per
message, so a message's RRN ends with the same STAN as its field 11 (docs/wire.md, field
37), and fresh for the next message.
"""

from __future__ import annotations

import itertools
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from typing import Any
from zoneinfo import ZoneInfo

from atmsim.kernel.crypto.errors import HsmError
from atmsim.kernel.crypto.pin_blocks import account_number_12, build_pin_block
from atmsim.kernel.crypto.tdes import encrypt_ecb
from atmsim.kernel.demo_data import ACQUIRER_ID, CARD_EXPIRY, DEMO_ATM_TERMINAL, DEMO_KEYS
from atmsim.kernel.wire import IsoMessage, WireProfile
from atmsim.kernel.wire import message_mac as wire_mac
from atmsim.shell.scenario.model import VAR_PATTERN

__all__ = [
    "BUILTIN_VARS",
    "TEMPLATES",
    "MessageValues",
    "ValueError_",
    "build_message",
    "computed",
    "joined",
    "message_mac",
    "original_data_elements",
    "substitute",
]

JAKARTA = ZoneInfo("Asia/Jakarta")

# Defaults every scenario sees (docs/demo-data.md); a pack's _vars.yaml, the scenario's
# vars, --var and a step's ``with`` override them, in that order.
BUILTIN_VARS: dict[str, Any] = {
    "terminal": DEMO_ATM_TERMINAL,
    "acquirer": ACQUIRER_ID,
    "expiry": CARD_EXPIRY,
    "card_acceptor": "BNI000000000001",
    "location": "BNI ATM SIMULATOR        JAKARTA      ID",
    "tpk": DEMO_KEYS["TPK"].clear_hex,
    "tak": DEMO_KEYS["TAK"].clear_hex,
}

TEMPLATES: dict[str, dict[str, Any]] = {
    # The 0200 of docs/wire.md with the card's PIN under the terminal's TPK.
    "balance_inquiry": {
        "t": "0200", "2": "${pan}", "3": "310000", "4": "000000000000", "7": "${new.time}",
        "11": "${new.stan}", "12": "${new.local_time}", "13": "${new.local_date}",
        "14": "${expiry}", "18": "6011", "22": "021", "25": "02", "32": "${acquirer}",
        "35": "${pan}=${expiry}101", "37": "${new.rrn}", "41": "${terminal}",
        "42": "${card_acceptor}", "43": "${location}", "49": "360",
        "52": {"pin_block": {"pin": "${pin}", "pan": "${pan}", "key": "${tpk}"}},
    },
    # 0800; the step gives 70 (001 sign-on, 002 sign-off, 301 echo).
    "network_management": {
        "t": "0800", "7": "${new.time}", "11": "${new.stan}", "41": "${terminal}",
    },
    # The reversal contract (docs/wire.md "0420 reversal"): the step gives the original's
    # STAN and time (orig_stan, orig_time) and its RRN (orig_rrn), and 39 the reason.
    "reversal": {
        "t": "0420", "2": "${pan}", "3": "310000", "4": "000000000000", "7": "${new.time}",
        "11": "${new.stan}", "12": "${new.local_time}", "13": "${new.local_date}",
        "32": "${acquirer}", "37": "${orig_rrn}", "39": "68", "41": "${terminal}",
        "42": "${card_acceptor}", "49": "360",
        "90": {"original": {"mti": "0200", "stan": "${orig_stan}", "time": "${orig_time}",
                            "acquirer": "${acquirer}"}},
    },
}


class ValueError_(ValueError):
    """A value that cannot be built (unknown variable, bad PIN or key); one line."""


_stans = itertools.count(secrets.randbelow(899_999) + 1)


@dataclass
class MessageValues:
    """The generated values of one message, drawn when first used."""

    now: datetime
    zone: tzinfo = JAKARTA
    _stan: str | None = None

    @classmethod
    def fresh(cls, zone: tzinfo = JAKARTA) -> MessageValues:
        return cls(datetime.now(UTC), zone)

    @property
    def stan(self) -> str:
        if self._stan is None:
            self._stan = f"{next(_stans) % 999_999 + 1:06d}"
        return self._stan

    def get(self, name: str) -> str:
        local = self.now.astimezone(self.zone)
        if name == "new.stan":
            return self.stan
        if name == "new.time":
            return self.now.strftime("%m%d%H%M%S")
        if name == "new.local_time":
            return local.strftime("%H%M%S")
        if name == "new.local_date":
            return local.strftime("%m%d")
        if name == "new.date":
            return local.strftime("%Y%m%d")
        if name == "new.rrn":  # YDDDhh + STAN (docs/wire.md, field 37)
            return f"{local.year % 10}{local.timetuple().tm_yday:03d}{local.hour:02d}{self.stan}"
        raise ValueError_(f"unknown generated value ${{{name}}}")


def substitute(text: str, variables: Mapping[str, Any], generated: MessageValues) -> str:
    """``text`` with every ``${name}`` replaced."""

    def one(match: Any) -> str:
        name = match.group(1)
        if name.startswith("new."):
            return generated.get(name)
        if name not in variables or variables[name] is None:
            raise ValueError_(f"unknown variable ${{{name}}}")
        return str(variables[name])

    return VAR_PATTERN.sub(one, text)


def resolve(value: Any, variables: Mapping[str, Any], generated: MessageValues) -> Any:
    """A value with variables replaced everywhere inside it (strings, mappings, lists)."""
    if isinstance(value, str):
        return substitute(value, variables, generated)
    if isinstance(value, dict):
        return {k: resolve(v, variables, generated) for k, v in value.items()}
    if isinstance(value, list):
        return [resolve(v, variables, generated) for v in value]
    return value


def _key(hex_text: str, what: str) -> bytes:
    try:
        key = bytes.fromhex(hex_text)
    except ValueError:
        raise ValueError_(f"{what}: a clear key is 16, 32 or 48 hex characters") from None
    if len(key) not in (8, 16, 24):
        raise ValueError_(f"{what}: a clear key is 16, 32 or 48 hex characters")
    return key


def pin_block(spec: Mapping[str, Any]) -> str:
    """An encrypted PIN block (hex) from a clear PIN, the PAN and a clear test key; format
    ``01`` (ISO 0) unless ``format`` says another Thales code (03, 05, 47)."""
    unknown = set(spec) - {"pin", "pan", "key", "format"}
    if unknown or not {"pin", "key"} <= set(spec):
        raise ValueError_("pin_block takes pin, pan, key and optionally format")
    fmt = str(spec.get("format", "01"))
    pan = str(spec.get("pan", ""))
    try:
        account = account_number_12(pan) if fmt in ("01", "47") else ""
        clear = build_pin_block(str(spec["pin"]), fmt, account)
    except HsmError as exc:
        raise ValueError_(f"pin_block: cannot be built (payShield error {exc.code})") from None
    return encrypt_ecb(_key(str(spec["key"]), "pin_block key"), clear).hex().upper()


def original_data_elements(spec: Mapping[str, Any]) -> str:
    """Field 90 (n42) of the reversal contract: original MTI (4) + STAN (6) + field 7 (10)
    + acquirer ID (11, zero-padded left) + forwarding institution (11 zeros)."""
    unknown = set(spec) - {"mti", "stan", "time", "acquirer", "forwarding"}
    if unknown:
        raise ValueError_(f"original: unknown key {sorted(unknown)[0]!r}")
    parts = (str(spec.get("mti", "0200")).zfill(4), str(spec.get("stan", "")).zfill(6),
             str(spec.get("time", "")).zfill(10), str(spec.get("acquirer", "")).zfill(11),
             str(spec.get("forwarding", "")).zfill(11))
    value = "".join(parts)
    if len(value) != 42 or not value.isdigit():
        raise ValueError_("original: mti 4, stan 6, time 10, acquirer and forwarding up to 11 "
                          "digits each")
    return value


def message_mac(profile: WireProfile, message: IsoMessage, field_number: str,
                key_hex: str) -> str:
    """The MAC field of ``message`` under a clear TAK, exactly as docs/wire.md defines it
    (the kernel's :mod:`atmsim.kernel.wire.message_mac`, the same bytes the ATM's PIN pad
    and the switch MAC): ``field_number`` must be the field the message's MAC goes in."""
    key = _key(key_hex, "mac key")
    if len(key) != 16:
        raise ValueError_("mac key: algorithm 3 takes a double-length (32 hex) key")
    body = {k: v for k, v in message.items() if k not in wire_mac.MAC_FIELDS}
    if wire_mac.mac_field(body) != field_number:
        raise ValueError_(f"mac: this message's MAC goes in field {wire_mac.mac_field(body)}")
    return wire_mac.field_of_mac(wire_mac.message_mac(key, wire_mac.mac_input(profile, body)))


def computed(kind: str, spec: Any, variables: Mapping[str, Any], generated: MessageValues,
             where: str) -> str:
    """A value computed from a mapping: ``pin_block`` or ``original`` (field 90)."""
    if not isinstance(spec, dict):
        raise ValueError_(f"{where}: {kind} takes a mapping")
    spec = resolve(spec, variables, generated)
    if kind == "pin_block":
        return pin_block(spec)
    if kind == "original":
        return original_data_elements(spec)
    raise ValueError_(f"{where}: unknown value {kind!r} (pin_block, original, mac)")


def joined(parts: Any, variables: Mapping[str, Any], generated: MessageValues) -> str:
    """HSM command data: text, or a list of text and computed parts, joined."""
    if not isinstance(parts, list):
        return substitute(str(parts), variables, generated)
    out = []
    for part in parts:
        if isinstance(part, dict):
            if len(part) != 1:
                raise ValueError_("hsm data: a computed part is one of pin_block, original")
            (kind, spec), = part.items()
            out.append(computed(kind, spec, variables, generated, "hsm data"))
        else:
            out.append(substitute(str(part), variables, generated))
    return "".join(out)


def build_message(profile: WireProfile, fields: Mapping[str, Any],
                  variables: Mapping[str, Any], generated: MessageValues) -> IsoMessage:
    """The message of a send step: template fields already merged into ``fields``; ``None``
    removes a field; pin_block / original / mac values are computed (the MAC last, over
    the finished message)."""
    message: IsoMessage = {}
    mac_field: tuple[str, Any] | None = None
    for number, value in fields.items():
        if value is None:
            continue
        if isinstance(value, dict):
            if len(value) != 1:
                raise ValueError_(f"field {number}: one of pin_block, original, mac")
            (kind, spec), = value.items()
            if not isinstance(spec, dict):
                raise ValueError_(f"field {number}: {kind} takes a mapping")
            if kind == "mac":
                mac_field = (number, resolve(spec, variables, generated))
            else:
                message[number] = computed(kind, spec, variables, generated,
                                           f"field {number}")
        elif isinstance(value, bool) or not isinstance(value, (str, int)):
            raise ValueError_(f"field {number}: a value is text, a number or null")
        else:
            message[number] = substitute(str(value), variables, generated)
    if "t" not in message:
        raise ValueError_("the message has no MTI (t)")
    ordered = {"t": message["t"], **{k: message[k] for k in
                                      sorted((k for k in message if k != "t"), key=int)}}
    if mac_field is not None:
        number, spec = mac_field
        if set(spec) - {"key"} or "key" not in spec:
            raise ValueError_("mac takes key (a clear TAK)")
        ordered[number] = message_mac(profile, ordered, number, str(spec["key"]))
    return ordered
