"""The ATM's messages: the 0200 balance inquiry it builds and the 0210 it reads."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone

from atm_switch.additional_data import decode_balance_amount, decode_tlv
from atm_switch.response_codes import ResponseCode
from atm_switch.wire import IsoMessage

__all__ = ["CardData", "InquiryResult", "balance_inquiry_request", "read_inquiry_response"]

WIB = timezone(timedelta(hours=7))  # the ATM's local time, Jakarta


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

    @property
    def approved(self) -> bool:
        return self.response_code == ResponseCode.APPROVED.value


def balance_inquiry_request(card: CardData, pin_block_hex: str, *, terminal_id: str, stan: str,
                            acquirer_id: str = "009", kpj: str | None = None,
                            now: datetime | None = None,
                            location: str = "BNI ATM KCP SUDIRMAN   JAKARTA      ID") -> IsoMessage:
    """An 0200 balance inquiry as the DESIGN.md wire profile lays it out."""
    now = now or datetime.now(UTC)
    local = now.astimezone(WIB)
    rrn = local.strftime("%y%j%H") + stan  # 12 characters: YYDDDhh + STAN
    message: IsoMessage = {
        "t": "0200",
        "2": card.pan,
        "3": "310000",
        "4": "000000000000",
        "7": now.strftime("%m%d%H%M%S"),
        "11": stan,
        "12": local.strftime("%H%M%S"),
        "13": local.strftime("%m%d"),
        "14": card.expiry,
        "18": "6011",
        "22": "021",
        "25": "02",
        "32": acquirer_id,
        "35": card.track2,
        "37": rrn[:12],
        "41": terminal_id,
        "42": f"{terminal_id:<15}"[:15],
        "43": f"{location:<40}"[:40],
        "49": "360",
        "52": pin_block_hex.upper(),
    }
    if kpj:
        message["103"] = kpj
    return message


def read_inquiry_response(response: IsoMessage) -> InquiryResult:
    code = response.get("39", "")
    meaning = ResponseCode.describe(code)
    if code != ResponseCode.APPROVED.value:
        return InquiryResult(code, meaning)
    details = decode_tlv(response.get("48", ""))
    as_of = details.get("DT")
    return InquiryResult(
        code, meaning,
        kpj=details.get("KP"),
        masked_name=details.get("NM"),
        status=details.get("ST"),
        balance_sen=decode_balance_amount(response["54"]) if "54" in response else None,
        as_of=datetime.strptime(as_of, "%Y%m%d").date() if as_of else None,
        segment=details.get("SG"),
    )
