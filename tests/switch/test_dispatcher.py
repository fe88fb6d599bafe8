"""The dispatcher: the full 0200 pipeline, MTIs without a pipeline, messages that did not
decode, and the event every answer publishes."""

from __future__ import annotations

import logging

import pytest

from atm_switch.channel import Answer
from atm_switch.deps import SwitchDeps
from atm_switch.dispatcher import AnswerLog, Dispatcher
from atmsim.kernel.log_limits import RateLimitedLog
from atmsim.kernel.wire import WireError, default_profile
from tests.switch.conftest import IBM_PAN, inquiry
from tests.switch.fakes import FakeBus


@pytest.fixture
def dispatcher(deps: SwitchDeps) -> Dispatcher:
    return Dispatcher(deps, RateLimitedLog(logging.getLogger("atmsim.switch")))


async def test_an_0200_runs_the_whole_pipeline(dispatcher: Dispatcher) -> None:
    answer = await dispatcher.dispatch(inquiry())
    assert answer is not None and answer.response["39"] == "00" and answer.reason == ""
    assert "54" in answer.response and "48" in answer.response
    again = await dispatcher.dispatch(inquiry())
    assert again is not None and again.response["39"] == "94"
    assert again.reason == "duplicate of a recent request"


async def test_a_request_without_a_pipeline_is_12_and_a_response_is_dropped(
        dispatcher: Dispatcher) -> None:
    answer = await dispatcher.dispatch(inquiry(t="0400"))
    assert answer is not None and answer.response["t"] == "0410"
    assert (answer.response["39"], answer.reason) == ("12", "MTI 0400 not supported")
    assert await dispatcher.dispatch(inquiry(t="0210")) is None


def test_a_message_that_did_not_decode_is_30_when_it_can_be_addressed(
        dispatcher: Dispatcher) -> None:
    raw = default_profile().encode(inquiry()).replace(b"000123", b"00012X", 1)
    with pytest.raises(WireError) as broken:
        default_profile().decode(raw)
    assert "11" not in broken.value.partial
    assert dispatcher.unreadable(broken.value) is None  # no STAN to answer to
    partial = {"t": "0200", "11": "000123", "41": "BNI00001"}
    answer = dispatcher.unreadable(WireError("2", "must hold digits only", partial))
    assert answer is not None
    assert answer.response == {"t": "0210", "11": "000123", "39": "30", "41": "BNI00001"}
    assert answer.reason == "field 2: must hold digits only"


def test_every_answer_publishes_a_masked_event(dispatcher: Dispatcher, bus: FakeBus) -> None:
    request = inquiry()
    dispatcher.answered(Answer(request, {"t": "0210", "39": "55", "11": "000123"},
                               "wrong PIN (1 in a row)"), 12.5)
    (topic, event), = bus.events
    assert topic == "atmsim/v1/events/tx"
    assert event["pan"] != IBM_PAN and event["pan"].endswith(IBM_PAN[-4:])
    assert (event["response_code"], event["reason"], event["latency_ms"]) == (
        "55", "wrong PIN (1 in a row)", 12.5)


def test_under_load_info_logs_ten_answers_a_second_and_counts_the_rest(
        deps: SwitchDeps, caplog: pytest.LogCaptureFixture) -> None:
    now = [100.0]
    log = logging.getLogger("atmsim.switch")
    dispatcher = Dispatcher(deps, RateLimitedLog(log),
                            answer_log=AnswerLog(log, clock=lambda: now[0]))
    caplog.set_level(logging.DEBUG, logger="atmsim.switch")
    for n in range(25):
        code = "55" if n % 5 == 4 else "00"
        dispatcher.answered(Answer(inquiry(), {"t": "0210", "39": code, "11": "000123"}),
                            1.0)
    answers = [r for r in caplog.records if "rc=" in r.getMessage()]
    assert len(answers) == 25  # DEBUG has every one, with its structured fields
    assert [r.levelno for r in answers] == [logging.INFO] * 10 + [logging.DEBUG] * 15
    assert all(r.response_code in ("00", "55") and r.pan != IBM_PAN for r in answers)
    dispatcher.flush()  # less than a second later: nothing yet
    assert not [r for r in caplog.records if "more in the last" in r.getMessage()]
    now[0] += 1.25  # a second on
    dispatcher.flush()
    summary, = [r for r in caplog.records if "more in the last" in r.getMessage()]
    assert summary.levelno == logging.INFO
    assert summary.getMessage().startswith("answered 15 more in the last 1.2 s")
    assert summary.getMessage().endswith("rc=00 x12, rc=55 x3")
