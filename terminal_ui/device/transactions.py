"""The ATM's messages: the 0200 balance inquiry it builds and the 0210 it reads, and the
0420 reversal it sends when an 0210 does not come back in time."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, tzinfo

from atmsim.kernel.response_codes import ResponseCode
from atmsim.kernel.wire import IsoMessage
from atmsim.kernel.wire.additional_data import decode_tlv
from atmsim.kernel.wire.hop_timings import ASK_HOP_TIMINGS, HOP_TIMINGS_FIELD
from atmsim.kernel.wire.reversal import (
    REASON_LATE_RESPONSE,
    REPEAT_MTI,
    REVERSAL_MTI,
    OriginalData,
)
from terminal_ui.device.clock import DEFAULT_TIME_ZONE, terminal_zone

__all__ = ["CardData", "InquiryResult", "balance_inquiry_request", "read_inquiry_response",
           "retrieval_reference", "read_ledger_balance", "approval_problem", "JAKARTA",
           "reversal_request", "repeat_of", "REVERSAL_FIELDS"]

JAKARTA = terminal_zone(DEFAULT_TIME_ZONE)  # WIB: the demo ATM's local time


@dataclass(frozen=True)
class CardData:
    """What the card reader gives: PAN, expiry (YYMM) and track 2."""

    pan: str
    expiry: str
    track2: str


@dataclass(frozen=True)
class InquiryResult:
    response_code: str
    meaning: str
    kpj: str | None = None
    masked_name: str | None = None
    status: str | None = None
    balance_sen: int | None = None
    as_of: date | None = None
    segment: str | None = None
    # An approval (39 = 00) that breaks the wire profile, e.g. no valid field 54: the ATM
    # shows "balance unavailable", never a balance it does not have.
    protocol_error: str | None = None

    @property
    def approved(self) -> bool:
        """Approved *and* readable: a balance the customer may be shown."""
        return self.response_code == ResponseCode.APPROVED.value and self.protocol_error is None


def retrieval_reference(local: datetime, stan: str) -> str:
    """Field 37, the retrieval reference number: ``YDDDhh`` + STAN, 12 digits.

    ``Y`` is the last digit of the year, ``DDD`` the day of the year and ``hh`` the hour,
    all in the terminal's local time (the same clock as fields 12 and 13), then the
    6-digit STAN of field 11 (the ANSI X9.2 / Visa layout). A terminal's STANs only repeat
    after 999,999 messages, so its RRNs are unique for the day as long as it sends fewer
    than 999,999 messages in one hour; no digit of the STAN is ever cut off.

    >>> retrieval_reference(datetime(2026, 12, 1, 9, 30), "000123")
    '633509000123'
    """
    if not (len(stan) == 6 and stan.isascii() and stan.isdigit()):
        raise ValueError("a STAN is 6 digits")
    return f"{local.year % 10}{local.timetuple().tm_yday:03d}{local.hour:02d}{stan}"


def balance_inquiry_request(card: CardData, pin_block_hex: str, *, terminal_id: str, stan: str,
                            acquirer_id: str = "009", kpj: str | None = None,
                            now: datetime | None = None, zone: tzinfo = JAKARTA,
                            location: str = "BNI ATM KCP SUDIRMAN   JAKARTA      ID",
                            hop_timings: bool = False) -> IsoMessage:
    """An 0200 balance inquiry as docs/wire.md lays it out.

    ``now`` is the moment of the request (aware; default: the current time); fields 12,
    13 and 37 carry it in the terminal's time zone ``zone``, field 7 in UTC.
    ``hop_timings``: ask for the switch's hop timings (field 63, docs/observability.md).
    """
    now = now or datetime.now(UTC)
    local = now.astimezone(zone)
    message: IsoMessage = {
        "t": "0200",
        "2": card.pan,
        "3": "310000",
        "4": "000000000000",
        "7": now.astimezone(UTC).strftime("%m%d%H%M%S"),
        "11": stan,
        "12": local.strftime("%H%M%S"),
        "13": local.strftime("%m%d"),
        "14": card.expiry,
        "18": "6011",
        "22": "021",
        "25": "02",
        "32": acquirer_id,
        "35": card.track2,
        "37": retrieval_reference(local, stan),
        "41": terminal_id,
        "42": f"{terminal_id:<15}"[:15],
        "43": f"{location:<40}"[:40],
        "49": "360",
        "52": pin_block_hex.upper(),
    }
    if hop_timings:
        message[HOP_TIMINGS_FIELD] = ASK_HOP_TIMINGS
    if kpj:
        message["103"] = kpj
    return message


def read_ledger_balance(field54: str) -> int:
    """The JHT balance in sen from field 54; a ValueError saying what is wrong with it.

    docs/wire.md: blocks of 20 characters, each account type (2 digits), amount type (2
    digits), currency (3 digits), sign ``C`` or ``D``, amount (12 digits of sen); the
    balance is the block of amount type ``01`` in currency ``360``. Anything else is not
    a balance the ATM may show (never read as Rp0,00).

    >>> read_ledger_balance("0001360C001234567800")
    1234567800
    >>> read_ledger_balance("0001360C00123456780")
    Traceback (most recent call last):
    ValueError: field 54 is 19 characters, not blocks of 20
    """
    if not field54 or len(field54) % 20:
        raise ValueError(f"field 54 is {len(field54)} characters, not blocks of 20")
    for start in range(0, len(field54), 20):
        block = field54[start:start + 20]
        account, kind, currency, sign, amount = (block[:2], block[2:4], block[4:7], block[7],
                                                 block[8:])
        if not (block.isascii() and (account + kind + currency + amount).isdigit()
                and sign in "CD"):
            raise ValueError(f"field 54 block {start // 20 + 1} is not "
                             f"account/type/currency/sign/amount")
        if kind == "01":
            if currency != "360":
                raise ValueError(f"field 54 balance is in currency {currency}, not 360")
            return -int(amount) if sign == "D" else int(amount)
    raise ValueError("field 54 holds no ledger balance (amount type 01)")


def approval_problem(response: IsoMessage) -> str | None:
    """Why an approved 0210 (39 = 00) breaks the wire profile, or None when it does not.

    An approval must carry the balance (a valid field 54) and readable details (field 48
    TLV, a valid DT date). Checked the same way by the ATM, ``atmsim inquire`` and
    ``atmsim load``, where such an answer is a protocol error, not an approval.
    """
    if "54" not in response:
        return "field 54 (balance) is missing"
    try:
        read_ledger_balance(response["54"])
        details = decode_tlv(response.get("48", ""))
    except ValueError as exc:
        return str(exc)
    try:
        if "DT" in details:
            datetime.strptime(details["DT"], "%Y%m%d")
    except ValueError:
        return "field 48 DT is not a date YYYYMMDD"
    return None


def read_inquiry_response(response: IsoMessage) -> InquiryResult:
    code = response.get("39", "")
    meaning = ResponseCode.describe(code)
    if code != ResponseCode.APPROVED.value:
        return InquiryResult(code, meaning)
    problem = approval_problem(response)
    if problem is not None:
        return InquiryResult(code, meaning, protocol_error=problem)
    details = decode_tlv(response.get("48", ""))
    as_of = details.get("DT")
    return InquiryResult(
        code, meaning,
        kpj=details.get("KP"),
        masked_name=details.get("NM"),
        status=details.get("ST"),
        balance_sen=read_ledger_balance(response["54"]),
        as_of=datetime.strptime(as_of, "%Y%m%d").date() if as_of else None,
        segment=details.get("SG"),
    )


# The fields an 0420 copies from the request it reverses (docs/wire.md); 7 and 11 are its
# own, 39 its reason and 90 names the original.
REVERSAL_FIELDS = ("2", "3", "4", "12", "13", "32", "37", "41", "42", "49")


def reversal_request(original: IsoMessage, *, stan: str, reason: str = REASON_LATE_RESPONSE,
                     now: datetime | None = None) -> IsoMessage:
    """The 0420 that reverses ``original`` (an 0200 this ATM sent): its own field 7 (now,
    UTC) and STAN, the original's RRN (37) and card, 39 = ``reason`` and field 90.

    The one place an 0420 is built, so a step added later (a MAC) is added once.

    >>> original = {"t": "0200", "2": "5264220000100010", "3": "310000", "7": "1201023000",
    ...             "11": "000123", "32": "009", "37": "633509000123", "41": "BNI00001"}
    >>> reversal = reversal_request(original, stan="000124",
    ...                             now=datetime(2026, 12, 1, 2, 31, tzinfo=UTC))
    >>> reversal["t"], reversal["7"], reversal["11"], reversal["39"], reversal["90"][:20]
    ('0420', '1201023100', '000124', '68', '02000001231201023000')
    """
    now = now or datetime.now(UTC)
    message: IsoMessage = {"t": REVERSAL_MTI}
    for number in sorted({*REVERSAL_FIELDS, "7", "11", "39", "90"}, key=int):
        if number == "7":
            message["7"] = now.astimezone(UTC).strftime("%m%d%H%M%S")
        elif number == "11":
            message["11"] = stan
        elif number == "39":
            message["39"] = reason
        elif number == "90":
            message["90"] = OriginalData.of(original).encode()
        elif number in original:
            message[number] = original[number]
    return message


def repeat_of(reversal: IsoMessage) -> IsoMessage:
    """The 0421 that repeats an unanswered 0420: the same message, the repeat MTI (its STAN
    and field 7 stay, so the switch sees the same reversal again).

    >>> repeat_of({"t": "0420", "11": "000124"})
    {'t': '0421', '11': '000124'}
    """
    return {**reversal, "t": REPEAT_MTI}
