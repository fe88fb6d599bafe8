"""SMPP 3.4 PDUs as values: a 16-byte header, a body laid out per command, optional TLVs.

Pure functions over ``bytes``: ``encode_pdu`` and ``decode_pdu``. Every PDU is
``command_length`` (4 bytes, big-endian, counting itself) + ``command_id`` +
``command_status`` + ``sequence_number``, then the mandatory parameters of its command
(C-octet strings ended by a NUL, 1-byte integers, and ``sm_length`` + ``short_message``
for the message PDUs), then TLVs (2-byte tag, 2-byte length, value). The layouts are
those of the SMPP 3.4 specification (section 4), the maximum lengths of C-octet strings
included.

A body that does not follow its layout raises ``PduError`` with the command status the
peer should be answered (``ESME_RINVMSGLEN``, ``ESME_RINVCMDID``...) and the byte where it
failed, so a session answers a malformed PDU with the right error and carries on.

>>> pdu = Pdu(Command.ENQUIRE_LINK, 7)
>>> encode_pdu(pdu).hex()
'00000010000000150000000000000007'
>>> decode_pdu(encode_pdu(pdu)) == pdu
True
"""

from __future__ import annotations

import struct
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import IntEnum
from types import MappingProxyType
from typing import Any

__all__ = [
    "HEADER_LEN",
    "MAX_PDU",
    "Command",
    "Pdu",
    "PduError",
    "Status",
    "Tlv",
    "decode_header",
    "decode_pdu",
    "encode_pdu",
    "response_to",
]

HEADER_LEN = 16
# The longest PDU a session reads by default: a submit_sm with a full 254-octet message
# and every TLV we use is under 400 bytes; message_payload may carry more (up to 64 KiB),
# which no peer of ours sends, so anything this long is refused as a framing error.
MAX_PDU = 4096


class Command(IntEnum):
    """SMPP 3.4 command ids (section 5.1.2.1); a response has bit 31 set."""

    GENERIC_NACK = 0x80000000
    BIND_RECEIVER = 0x00000001
    BIND_RECEIVER_RESP = 0x80000001
    BIND_TRANSMITTER = 0x00000002
    BIND_TRANSMITTER_RESP = 0x80000002
    QUERY_SM = 0x00000003
    QUERY_SM_RESP = 0x80000003
    SUBMIT_SM = 0x00000004
    SUBMIT_SM_RESP = 0x80000004
    DELIVER_SM = 0x00000005
    DELIVER_SM_RESP = 0x80000005
    UNBIND = 0x00000006
    UNBIND_RESP = 0x80000006
    REPLACE_SM = 0x00000007
    REPLACE_SM_RESP = 0x80000007
    CANCEL_SM = 0x00000008
    CANCEL_SM_RESP = 0x80000008
    BIND_TRANSCEIVER = 0x00000009
    BIND_TRANSCEIVER_RESP = 0x80000009
    OUTBIND = 0x0000000B
    ENQUIRE_LINK = 0x00000015
    ENQUIRE_LINK_RESP = 0x80000015
    SUBMIT_MULTI = 0x00000021
    SUBMIT_MULTI_RESP = 0x80000021
    ALERT_NOTIFICATION = 0x00000102
    DATA_SM = 0x00000103
    DATA_SM_RESP = 0x80000103

    @property
    def is_response(self) -> bool:
        return bool(self & 0x80000000)


class Status(IntEnum):
    """The command_status values used here (SMPP 3.4 section 5.1.3)."""

    ESME_ROK = 0x00
    ESME_RINVMSGLEN = 0x01
    ESME_RINVCMDLEN = 0x02
    ESME_RINVCMDID = 0x03
    ESME_RINVBNDSTS = 0x04
    ESME_RALYBND = 0x05
    ESME_RSYSERR = 0x08
    ESME_RINVSRCADR = 0x0A
    ESME_RINVDSTADR = 0x0B
    ESME_RBINDFAIL = 0x0D
    ESME_RINVPASWD = 0x0E
    ESME_RINVSYSID = 0x0F
    ESME_RMSGQFUL = 0x14
    ESME_RINVESMCLASS = 0x43
    ESME_RTHROTTLED = 0x58
    ESME_RX_T_APPN = 0x64
    ESME_RINVOPTPARSTREAM = 0xC0
    ESME_RINVPARLEN = 0xC2
    ESME_RINVDCS = 0x104
    ESME_RUNKNOWNERR = 0xFF


class Tlv(IntEnum):
    """Optional parameter tags used here (SMPP 3.4 section 5.3.2)."""

    SAR_MSG_REF_NUM = 0x020C  # 2 bytes: the reference shared by a message's segments
    SAR_TOTAL_SEGMENTS = 0x020E  # 1 byte
    SAR_SEGMENT_SEQNUM = 0x020F  # 1 byte, from 1
    SC_INTERFACE_VERSION = 0x0210  # 1 byte: 0x34
    MESSAGE_PAYLOAD = 0x0424


class PduError(ValueError):
    """A PDU that cannot be read; ``status`` is what to answer, ``offset`` where it failed."""

    def __init__(self, message: str, status: int = Status.ESME_RINVMSGLEN,
                 offset: int | None = None) -> None:
        super().__init__(message if offset is None else f"{message} (at byte {offset})")
        self.status = status
        self.offset = offset


# A body layout: (name, kind, size). kind "c": a C-octet string of at most size bytes
# including its NUL; "u8": one byte; "sm": sm_length then that many octets (size: max).
_BIND = (("system_id", "c", 16), ("password", "c", 9), ("system_type", "c", 13),
         ("interface_version", "u8", 1), ("addr_ton", "u8", 1), ("addr_npi", "u8", 1),
         ("address_range", "c", 41))
_MESSAGE = (("service_type", "c", 6), ("source_addr_ton", "u8", 1),
            ("source_addr_npi", "u8", 1), ("source_addr", "c", 21),
            ("dest_addr_ton", "u8", 1), ("dest_addr_npi", "u8", 1),
            ("destination_addr", "c", 21), ("esm_class", "u8", 1), ("protocol_id", "u8", 1),
            ("priority_flag", "u8", 1), ("schedule_delivery_time", "c", 17),
            ("validity_period", "c", 17), ("registered_delivery", "u8", 1),
            ("replace_if_present_flag", "u8", 1), ("data_coding", "u8", 1),
            ("sm_default_msg_id", "u8", 1), ("short_message", "sm", 254))
_LAYOUTS: dict[Command, tuple[tuple[str, str, int], ...]] = {
    Command.BIND_RECEIVER: _BIND, Command.BIND_TRANSMITTER: _BIND,
    Command.BIND_TRANSCEIVER: _BIND,
    Command.BIND_RECEIVER_RESP: (("system_id", "c", 16),),
    Command.BIND_TRANSMITTER_RESP: (("system_id", "c", 16),),
    Command.BIND_TRANSCEIVER_RESP: (("system_id", "c", 16),),
    Command.SUBMIT_SM: _MESSAGE, Command.DELIVER_SM: _MESSAGE,
    Command.SUBMIT_SM_RESP: (("message_id", "c", 65),),
    Command.DELIVER_SM_RESP: (("message_id", "c", 65),),
    Command.UNBIND: (), Command.UNBIND_RESP: (),
    Command.ENQUIRE_LINK: (), Command.ENQUIRE_LINK_RESP: (), Command.GENERIC_NACK: (),
}
# Commands with TLVs after their mandatory parameters.
_HAS_TLVS = frozenset({Command.SUBMIT_SM, Command.DELIVER_SM, Command.BIND_RECEIVER_RESP,
                       Command.BIND_TRANSMITTER_RESP, Command.BIND_TRANSCEIVER_RESP})
_DEFAULTS: dict[str, Any] = {"c": "", "u8": 0, "sm": b""}
# The empty value of each parameter, by command: what ``Pdu.get`` gives for one left out.
_EMPTY_VALUES: dict[Command, dict[str, Any]] = {
    command: {name: _DEFAULTS[kind] for name, kind, _ in layout}
    for command, layout in _LAYOUTS.items()}
_HEADER = struct.Struct(">IIII")
_EMPTY: Mapping[str, Any] = MappingProxyType({})
_NO_TLVS: Mapping[int, bytes] = MappingProxyType({})


@dataclass(frozen=True)
class Pdu:
    """One PDU: its command, sequence number, status, mandatory parameters by name (those
    left out are empty strings, zeros, empty bytes) and TLVs by tag."""

    command: Command
    sequence: int
    status: int = 0
    params: Mapping[str, Any] = field(default_factory=lambda: _EMPTY)
    tlvs: Mapping[int, bytes] = field(default_factory=lambda: _NO_TLVS)

    def get(self, name: str) -> Any:
        """A mandatory parameter, or its empty value when it was not given."""
        if name in self.params:
            return self.params[name]
        return _EMPTY_VALUES.get(self.command, {}).get(name, "")

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Pdu):
            return NotImplemented
        return (self.command, self.sequence, self.status, self._full(), dict(self.tlvs)) == (
            other.command, other.sequence, other.status, other._full(), dict(other.tlvs))

    def __hash__(self) -> int:
        return hash((self.command, self.sequence, self.status))

    def _full(self) -> dict[str, Any]:
        return {name: self.get(name) for name, _, _ in _LAYOUTS.get(self.command, ())}


def response_to(request: Pdu, status: int = 0, **params: Any) -> Pdu:
    """The response PDU of ``request`` (same sequence number).

    >>> response_to(Pdu(Command.SUBMIT_SM, 3), message_id="m1").command.name
    'SUBMIT_SM_RESP'
    """
    return Pdu(Command(request.command | 0x80000000), request.sequence, status, params)


def encode_pdu(pdu: Pdu) -> bytes:
    """The bytes of ``pdu``; ``ValueError`` for a parameter its layout cannot hold.

    >>> encode_pdu(Pdu(Command.BIND_TRANSCEIVER_RESP, 1, params={"system_id": "SMSC"})).hex()
    '00000015800000090000000000000001534d534300'
    """
    layout = _LAYOUTS.get(pdu.command)
    if layout is None:
        raise ValueError(f"cannot encode {pdu.command.name}")
    unknown = set(pdu.params) - {name for name, _, _ in layout}
    if unknown:
        raise ValueError(f"{pdu.command.name} has no parameter {sorted(unknown)[0]}")
    body = bytearray()
    # A response with an error status carries no body (SMPP 3.4 section 4.1.2 and on).
    if not (pdu.command.is_response and pdu.status):
        for name, kind, size in layout:
            value = pdu.get(name)
            if kind == "c":
                raw = str(value).encode("ascii")
                if len(raw) >= size or b"\0" in raw:
                    raise ValueError(f"{name}: at most {size - 1} ASCII characters")
                body += raw + b"\0"
            elif kind == "u8":
                body.append(int(value))
            else:
                if len(value) > size:
                    raise ValueError(f"{name}: at most {size} octets")
                body.append(len(value))
                body += value
    for tag, value in pdu.tlvs.items():
        body += struct.pack(">HH", tag, len(value)) + value
    return _HEADER.pack(HEADER_LEN + len(body), pdu.command, pdu.status, pdu.sequence) + body


def decode_header(header: bytes) -> tuple[int, int, int, int]:
    """``(command_length, command_id, command_status, sequence_number)`` of 16 bytes.

    >>> decode_header(bytes.fromhex("00000010000000150000000000000007"))
    (16, 21, 0, 7)
    """
    if len(header) != HEADER_LEN:
        raise PduError("a PDU header is 16 bytes", Status.ESME_RINVCMDLEN)
    length, command_id, status, sequence = _HEADER.unpack(header)
    return int(length), int(command_id), int(status), int(sequence)


def decode_pdu(data: bytes) -> Pdu:
    """Read one whole PDU (``command_length`` bytes). Raises ``PduError``.

    >>> decode_pdu(bytes.fromhex("00000010000000990000000000000001"))
    Traceback (most recent call last):
    ...
    atmsim.kernel.smpp.pdu.PduError: unknown command id 0x00000099
    """
    length, command_id, status, sequence = decode_header(data[:HEADER_LEN])
    if length != len(data):
        raise PduError(f"command_length {length} but {len(data)} bytes",
                       Status.ESME_RINVCMDLEN)
    try:
        command = Command(command_id)
    except ValueError:
        raise PduError(f"unknown command id 0x{command_id:08x}", Status.ESME_RINVCMDID
                       ) from None
    layout = _LAYOUTS.get(command)
    if layout is None:
        raise PduError(f"{command.name} is not supported", Status.ESME_RINVCMDID)
    params: dict[str, Any] = {}
    at = HEADER_LEN
    if command.is_response and status:
        return Pdu(command, sequence, status)  # an error response's body is not read
    for name, kind, size in layout:
        if at >= len(data) and command.is_response:
            break  # a response whose body was left out (allowed on errors and by some peers)
        if kind == "c":
            end = data.find(b"\0", at, at + size)
            if end < 0:
                raise PduError(f"{name}: no NUL within {size} bytes", offset=at)
            try:
                params[name] = data[at:end].decode("ascii")
            except UnicodeDecodeError:
                raise PduError(f"{name}: not ASCII", offset=at) from None
            at = end + 1
        elif kind == "u8":
            if at >= len(data):
                raise PduError(f"{name}: missing", offset=at)
            params[name] = data[at]
            at += 1
        else:
            if at >= len(data):
                raise PduError("sm_length: missing", offset=at)
            sm_length = data[at]
            if sm_length > size or at + 1 + sm_length > len(data):
                raise PduError(f"sm_length {sm_length} runs past the PDU", offset=at)
            params[name] = bytes(data[at + 1:at + 1 + sm_length])
            at += 1 + sm_length
    tlvs: dict[int, bytes] = {}
    if at < len(data) and command not in _HAS_TLVS:
        raise PduError(f"{len(data) - at} bytes after the body of {command.name}", offset=at)
    while at < len(data):
        if at + 4 > len(data):
            raise PduError("a TLV header is 4 bytes", Status.ESME_RINVOPTPARSTREAM, at)
        tag, tlv_len = struct.unpack_from(">HH", data, at)
        if at + 4 + tlv_len > len(data):
            raise PduError(f"TLV 0x{tag:04x} runs past the PDU", Status.ESME_RINVPARLEN, at)
        tlvs[tag] = bytes(data[at + 4:at + 4 + tlv_len])
        at += 4 + tlv_len
    return Pdu(command, sequence, status, params, tlvs)
