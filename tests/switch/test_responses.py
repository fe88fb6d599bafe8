"""What each answer carries: the 0210's fields 38, 48 and 54, the echo table per message
class, wire order."""

from __future__ import annotations

from atm_switch.ledger_link import LedgerReply
from atm_switch.responses import answer, balance_inquiry_response
from atmsim.kernel.response_codes import ResponseCode
from atmsim.kernel.wire import default_profile
from atmsim.kernel.wire.additional_data import decode_balance_amount, decode_tlv
from tests.switch.conftest import IBM_PAN, KPJ, inquiry

LEDGER = LedgerReply("OK", KPJ, "BUDI SANTOSO", "AKTIF", 1234567800, "2024-05-31")


def test_an_approved_0210_carries_balance_participant_and_approval_code() -> None:
    response = balance_inquiry_response(inquiry(), ResponseCode.APPROVED, LEDGER)
    assert list(response) == ["t", "2", "3", "4", "7", "11", "32", "37", "38", "39", "41",
                              "48", "49", "54"]
    assert response["t"] == "0210" and response["39"] == "00" and response["2"] == IBM_PAN
    assert len(response["38"]) == 6 and response["38"].isdigit()
    assert decode_balance_amount(response["54"]) == 1234567800
    assert decode_tlv(response["48"]) == {"KP": KPJ, "NM": "B**I S*****O", "ST": "AKTIF",
                                          "DT": "20240531"}
    default_profile().encode(response)  # fits the wire profile


def test_field_48_names_the_segment_when_the_ledger_gives_one() -> None:
    ledger = LedgerReply("OK", KPJ, "SITI", "NONAKTIF", 0, "2024-05-31", "PU")
    response = balance_inquiry_response(inquiry(), ResponseCode.APPROVED, ledger)
    assert decode_tlv(response["48"])["SG"] == "PU"
    assert decode_balance_amount(response["54"]) == 0


def test_a_declined_0210_echoes_and_adds_only_39() -> None:
    request = inquiry(**{"14": "3012", "103": "98765432101"})
    response = balance_inquiry_response(request, ResponseCode.WRONG_PIN, LEDGER)
    assert response == {"t": "0210", "2": IBM_PAN, "3": "311000", "4": "000000000000",
                        "7": "1121060000", "11": "000123", "32": "009",
                        "37": "432106000123", "39": "55", "41": "BNI00001", "49": "360"}


def test_network_management_echoes_its_own_fields() -> None:
    request = {"t": "0800", "7": "1121060000", "11": "000007", "41": "BNI00001", "70": "001",
               "2": IBM_PAN}
    assert answer(request, ResponseCode.APPROVED) == {
        "t": "0810", "7": "1121060000", "11": "000007", "39": "00", "41": "BNI00001",
        "70": "001"}


def test_another_class_is_echoed_as_financial_and_a_repeat_answered_as_its_original() -> None:
    assert answer(inquiry(t="0100"), ResponseCode.UNSUPPORTED_TRANSACTION)["t"] == "0110"
    response = answer(inquiry(t="0201"), ResponseCode.UNSUPPORTED_TRANSACTION)
    assert response["t"] == "0210" and response["2"] == IBM_PAN and "52" not in response
    assert answer({"t": "0820", "11": "000001", "2": IBM_PAN},
                  ResponseCode.UNSUPPORTED_TRANSACTION) == {"t": "0830", "11": "000001",
                                                            "39": "12"}
