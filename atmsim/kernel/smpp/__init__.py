"""SMPP 3.4, the protocol between an SMSC and the ESMEs bound to it: the PDU codec
(``pdu``), SMS text and long-message segments (``text``) and one connection on asyncio
(``session``). The SMS gateway (``sms_gateway``) and the simulated SMSC (``smsc_sim``)
both speak it through this package."""

from atmsim.kernel.smpp.pdu import (
    MAX_PDU,
    Command,
    Pdu,
    PduError,
    Status,
    Tlv,
    decode_pdu,
    encode_pdu,
    response_to,
)
from atmsim.kernel.smpp.session import SessionClosed, SmppSession, SmppTimeout

__all__ = ["MAX_PDU", "Command", "Pdu", "PduError", "SessionClosed", "SmppSession",
           "SmppTimeout", "Status", "Tlv", "decode_pdu", "encode_pdu", "response_to"]
