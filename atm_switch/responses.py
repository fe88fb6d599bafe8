"""Every answer the switch sends, built in one place: 0210, 0430, 0810 and the generic
answers.

One echo table says which fields an answer copies from its request, per message class;
every answer lists its fields in wire order (ascending field number, the MTI first). The
0210 adds the balance (field 54, encoded by ``atmsim.kernel.wire.additional_data``), the
participant data (field 48), an authorization code (field 38) and, when the switch charges
one, the inquiry fee (field 28) when it is approved.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping

from atm_switch.ledger_link import LedgerReply
from atm_switch.message_types import response_mti
from atmsim.kernel.masking import mask_name
from atmsim.kernel.response_codes import ResponseCode
from atmsim.kernel.wire import IsoMessage
from atmsim.kernel.wire.additional_data import encode_balance_amount, encode_tlv

__all__ = ["ECHOED", "answer", "balance_inquiry_response", "inquiry_fee", "participant_data"]

# The fields an answer copies from its request, by message class (the MTI's second digit;
# docs/wire.md). A class not listed echoes as the financial class does.
ECHOED: Mapping[str, tuple[str, ...]] = {
    "2": ("2", "3", "4", "7", "11", "32", "37", "41", "49"),  # financial: 0200 -> 0210
    "4": ("2", "3", "4", "7", "11", "32", "37", "41", "49", "90"),  # reversal: 0420 -> 0430
    "8": ("7", "11", "32", "37", "41", "70"),  # network management: 0800 -> 0810
}
_FINANCIAL = "2"
# The fields the switch itself adds to an answer of that class.
_ADDED: Mapping[str, tuple[str, ...]] = {_FINANCIAL: ("28", "38", "39", "48", "54"),
                                         "8": ("39", "48")}  # 48: the keys of a key change


def _wire_order(klass: str) -> tuple[str, ...]:
    fields = set(ECHOED[klass]) | set(_ADDED.get(klass, ("39",)))
    return tuple(sorted(fields, key=int))


_WIRE_ORDER = {klass: _wire_order(klass) for klass in ECHOED}


def answer(request: IsoMessage, code: ResponseCode,
           added: Mapping[str, str] | None = None) -> IsoMessage:
    """The answer to a request (or to what could be read of one): its response MTI, the
    echoed fields the request has, field 39 and ``added``, in wire order.

    >>> answer({"t": "0800", "11": "000123", "41": "BNI00001", "70": "301"},
    ...        ResponseCode.APPROVED)
    {'t': '0810', '11': '000123', '39': '00', '41': 'BNI00001', '70': '301'}
    """
    mti = response_mti(request["t"])
    if mti is None:
        raise ValueError(f"MTI {request['t']} is not a request: it gets no answer")
    klass = mti[1] if mti[1] in ECHOED else _FINANCIAL
    echoed = ECHOED[klass]
    own = {"39": code.value}
    if added:
        own.update(added)
    response: IsoMessage = {"t": mti}
    for number in _WIRE_ORDER[klass]:
        if number in own:
            response[number] = own[number]
        elif number in request and number in echoed:
            response[number] = request[number]
    return response


def participant_data(ledger: LedgerReply) -> str:
    """Field 48 of an approved 0210: the participant's KPJ, masked name, status, balance
    date and, when the ledger gives one, segment, as tag-length-value items.

    >>> participant_data(LedgerReply("OK", "12345678901", "BUDI SANTOSO", "AKTIF", 1,
    ...                              "2024-05-31"))
    'KP1112345678901NM12B**I S*****OST05AKTIFDT0820240531'
    """
    items = [("KP", ledger.kpj or ""), ("NM", mask_name(ledger.name or "")),
             ("ST", ledger.status or ""), ("DT", (ledger.as_of or "").replace("-", ""))]
    if ledger.segment:
        items.append(("SG", ledger.segment))
    return encode_tlv(items)


def inquiry_fee(fee_sen: int) -> str:
    """Field 28 (x+n8, amount, transaction fee) for a fee charged to the cardholder: ``D``
    (a debit to the card's account) and 8 digits of sen.

    >>> inquiry_fee(250000)
    'D00250000'
    """
    return f"D{fee_sen:08d}"


def balance_inquiry_response(request: IsoMessage, code: ResponseCode,
                             ledger: LedgerReply | None = None, fee_sen: int = 0) -> IsoMessage:
    """The 0210 for a balance inquiry: approved with the ledger's answer (fields 38, 48 and
    54, and 28 when a fee is charged), or declined with ``code``."""
    if code is not ResponseCode.APPROVED or ledger is None:
        return answer(request, code)
    added = {
        "38": f"{secrets.randbelow(1_000_000):06d}",
        "48": participant_data(ledger),
        "54": encode_balance_amount(ledger.balance_sen or 0),
    }
    if fee_sen:
        added["28"] = inquiry_fee(fee_sen)
    return answer(request, code, added)
