"""Which bytes of an ISO 8583 message its MAC covers, and where the MAC goes (docs/wire.md).

The MAC travels in field 64 when the message has no field 65-128, otherwise in field 128:
the last field of the message either way. It covers the message exactly as it is on the
wire from the first byte of the MTI up to the MAC field itself (MTI, bitmaps with the MAC
field's bit set, every field before the MAC with its length prefix), without the frame's
length header. The MAC is ISO/IEC 9797-1 algorithm 3 (retail MAC, ANSI X9.19) under the
terminal's TAK, padding method 1; the field holds its left 4 bytes (8 hex characters, as a
payShield M6 gives) followed by 8 ``0`` characters.

The ATM's PIN pad, the switch (through its HSM) and the scenario runner all take the MAC
input from here, so that they agree byte for byte.
"""

from __future__ import annotations

from collections.abc import Callable

from atmsim.kernel.crypto.mac import retail_mac
from atmsim.kernel.wire.fields import IsoMessage
from atmsim.kernel.wire.profile import WireError, WireProfile

__all__ = ["MAC_FIELDS", "MAC_HEX", "mac_field", "mac_input", "received_mac_input",
           "mac_of_field", "field_of_mac", "message_mac", "with_mac"]

MAC_FIELDS = ("64", "128")
MAC_HEX = 8  # hex characters of the MAC proper: its left 4 bytes
_FIELD_HEX = 16  # field 64 / 128 is b8: 16 hex characters in the default profile
_PADDING = "0" * (_FIELD_HEX - MAC_HEX)
_PLACEHOLDER = "0" * _FIELD_HEX


def mac_field(message: IsoMessage) -> str:
    """``"128"`` when the message has a field 65-127 (a secondary bitmap), else ``"64"``.

    >>> mac_field({"t": "0200", "11": "000001"}), mac_field({"t": "0800", "70": "301"})
    ('64', '128')
    """
    for key in message:
        if key.isdigit() and 64 < int(key) < 128:
            return "128"
    return "64"


def mac_input(profile: WireProfile, message: IsoMessage) -> bytes:
    """The bytes the MAC of ``message`` covers once its MAC field is added.

    >>> from atmsim.kernel.wire.profile import default_profile
    >>> mac_input(default_profile(), {"t": "0800", "11": "000001", "70": "301"})
    b'080080200000000000000400000000000001000001301'
    """
    body = {k: v for k, v in message.items() if k not in MAC_FIELDS}
    body[mac_field(body)] = _PLACEHOLDER
    encoded = profile.encode(body)
    return encoded[:-_FIELD_HEX]


def received_mac_input(raw: bytes, message: IsoMessage) -> bytes | None:
    """The MAC input of a message as received (``raw``, without the length header), or
    None when the message carries no MAC in the field it should (64 or 128, the last field).
    """
    field = mac_field({k: v for k, v in message.items() if k not in MAC_FIELDS})
    value = message.get(field)
    if value is None or not raw.endswith(value.encode("ascii")):
        return None
    return raw[:-_FIELD_HEX]


def mac_of_field(value: str) -> str | None:
    """The MAC (8 hex, upper case) in a field 64/128 value; None if the value is not one
    this profile writes (4 bytes of MAC, then 4 zero bytes).

    >>> mac_of_field("1A2B3C4D00000000"), mac_of_field("1A2B3C4D1A2B3C4D")
    ('1A2B3C4D', None)
    """
    if len(value) != _FIELD_HEX or value[MAC_HEX:] != _PADDING:
        return None
    return value[:MAC_HEX].upper()


def field_of_mac(mac_hex: str) -> str:
    """The field 64/128 value carrying an 8-hex MAC."""
    if len(mac_hex) != MAC_HEX:
        raise WireError("64", f"a MAC is {MAC_HEX} hex characters")
    return mac_hex.upper() + _PADDING


def message_mac(key: bytes, data: bytes) -> str:
    """The 8-hex MAC of ``data`` (a :func:`mac_input`) under the double-length ``key``."""
    return retail_mac(key, data)[: MAC_HEX // 2].hex().upper()


def with_mac(profile: WireProfile, message: IsoMessage,
             compute: Callable[[bytes], str]) -> IsoMessage:
    """``message`` with its MAC field added, ``compute`` giving the MAC of the input."""
    sealed = {k: v for k, v in message.items() if k not in MAC_FIELDS}
    sealed[mac_field(sealed)] = field_of_mac(compute(mac_input(profile, sealed)))
    return sealed
