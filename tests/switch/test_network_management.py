"""0800 sign-on, sign-off, echo test and key change through the network management
pipeline."""

from __future__ import annotations

import pytest

from atm_switch.deps import SwitchDeps
from atm_switch.network_management import answer_network_management
from tests.switch.conftest import TERMINAL


def network(code: str | None, terminal: str = TERMINAL) -> dict[str, str]:
    message = {"t": "0800", "7": "1121060000", "11": "000001", "41": terminal}
    if code is not None:
        message["70"] = code
    return message


@pytest.mark.parametrize(("code", "terminal", "expected"), [
    ("001", TERMINAL, "00"),
    ("002", TERMINAL, "00"),
    ("301", TERMINAL, "00"),
    ("001", "BNI09999", "58"),
    ("002", "BNI09999", "58"),
    ("301", "BNI09999", "00"),  # an echo test needs no known terminal
    ("161", TERMINAL, "96"),  # this terminal has no TMK on file: no keys to send
    ("161", "BNI09999", "58"),
    ("999", TERMINAL, "12"),
    (None, TERMINAL, "30"),
])
async def test_network_management_codes(deps: SwitchDeps, code: str | None, terminal: str,
                                        expected: str) -> None:
    response, reason = await answer_network_management(network(code, terminal), deps)
    assert response["t"] == "0810" and response["39"] == expected
    assert response["11"] == "000001" and response["41"] == terminal
    assert reason == ""


async def test_without_a_stan_it_is_30(deps: SwitchDeps) -> None:
    request = network("301")
    del request["11"]
    response, _ = await answer_network_management(request, deps)
    assert response == {"t": "0810", "7": "1121060000", "39": "30", "41": TERMINAL,
                        "70": "301"}
