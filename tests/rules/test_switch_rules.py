"""``atmsim switch --rules FILE``: each action over a real socket, first match wins, no match
answers as usual, and a reload (SIGHUP in the command) keeps the connections open."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from atmsim.kernel.wire import WireError
from atmsim.shell.broker import EmbeddedBroker
from atmsim.shell.stack import Stack, StackError
from tests.e2e.atm import card, inquire, link_to
from tests.e2e.conftest import stack_settings
from tests.rules.wire_client import PROFILE, WireClient, echo_request

RULES = """
rules:
  - name: decline by prefix and amount
    match: {mti: "0200", pan_prefix: "526422000010001", amount: {max: 0}}
    respond: {code: "62", fields: {"44": "RULE"}}
  - {name: silent, match: {terminal: BNI00101}, action: drop}
  - {name: hang up, match: {terminal: BNI00102}, action: close}
  - {name: noise, match: {terminal: BNI00103}, garbage: {bytes: 24}}
  - {name: stutter, match: {terminal: BNI00104}, action: twice}
  - {name: mixed up, match: {terminal: BNI00105}, action: wrong_stan}
  - {name: slow, match: {terminal: BNI00106}, delay: 0.6}
  - {name: by regex, match: {fields: {"70": "^30[12]$"}, terminal: [BNI00107, BNI00108]},
     respond: "96"}
  - {name: never reached, match: {terminal: BNI00107}, action: drop}
  - {name: by KPJ, match: {kpj: "13055500011"}, respond: "25"}
"""


@pytest.fixture
async def ruled(amqtt_broker: EmbeddedBroker, data_dir: Path) -> AsyncIterator[Stack]:
    rules = data_dir.parent / "switch-rules.yaml"
    rules.write_text(RULES)
    settings = stack_settings(data_dir, amqtt_broker.endpoint.secret_url)
    settings.mqtt.protocol, settings.mqtt.shared_subscriptions = "3.1.1", "no"
    settings.switch.rules = str(rules)
    async with Stack(settings) as stack:
        yield stack


def _client(stack: Stack) -> WireClient:
    assert stack.switch is not None
    return WireClient(stack.switch.host, stack.switch.port)


async def test_respond_with_a_code_and_field_overrides(ruled: Stack) -> None:
    async with link_to(ruled) as link:
        response, result = await inquire(link, card("Budi"))
    assert result.response_code == "62"
    assert response["44"] == "RULE"
    assert response["11"] and "54" not in response  # an answer, not the approval


async def test_no_rule_matched_answers_as_usual(ruled: Stack) -> None:
    async with link_to(ruled) as link:
        _, result = await inquire(link, card("Siti"))
    assert result.response_code == "00"


async def test_match_on_kpj_field_103(ruled: Stack) -> None:
    async with link_to(ruled) as link:
        _, result = await inquire(link, card("Siti"), kpj="13055500011")
    assert result.response_code == "25"


async def test_drop_sends_nothing_and_keeps_the_connection(ruled: Stack) -> None:
    async with _client(ruled) as client:
        await client.send(echo_request("BNI00101"))
        assert await client.frame(timeout=1.0) is None
        await client.send(echo_request("BNI00001"))  # the same connection still answers
        answer = await client.message()
        assert answer is not None and answer["39"] == "00"


async def test_close_hangs_up_without_an_answer(ruled: Stack) -> None:
    async with _client(ruled) as client:
        await client.send(echo_request("BNI00102"))
        assert await client.closed_by_peer()


async def test_garbage_is_a_frame_that_does_not_decode(ruled: Stack) -> None:
    async with _client(ruled) as client:
        await client.send(echo_request("BNI00103"))
        body = await client.frame()
        assert body is not None and len(body) == 24
        with pytest.raises(WireError):
            PROFILE.decode(body)


async def test_twice_sends_the_same_answer_twice(ruled: Stack) -> None:
    async with _client(ruled) as client:
        await client.send(echo_request("BNI00104", "000777"))
        first, second = await client.message(), await client.message()
        assert first is not None and first == second and first["11"] == "000777"


async def test_wrong_stan_answers_another_stan(ruled: Stack) -> None:
    async with _client(ruled) as client:
        await client.send(echo_request("BNI00105", "000777"))
        answer = await client.message()
        assert answer is not None and answer["11"] == "000778" and answer["39"] == "00"


async def test_delay_then_the_usual_answer(ruled: Stack) -> None:
    async with _client(ruled) as client:
        started = time.monotonic()
        await client.send(echo_request("BNI00106"))
        answer = await client.message()
        waited = time.monotonic() - started
    assert answer is not None and answer["39"] == "00"
    assert waited >= 0.6  # never sooner than the rule says (no upper bound asserted)


async def test_first_matching_rule_wins_and_regex_on_a_field(ruled: Stack) -> None:
    async with _client(ruled) as client:
        await client.send(echo_request("BNI00107"))
        answer = await client.message()
    assert answer is not None and answer["39"] == "96"  # not the later "drop"


async def test_reload_swaps_rules_and_keeps_connections(ruled: Stack, data_dir: Path) -> None:
    assert ruled.switch is not None
    async with _client(ruled) as client:
        await client.send(echo_request("BNI00101"))
        assert await client.frame(timeout=0.5) is None  # dropped by the first rules
        rules = Path(ruled.settings.switch.rules)
        rules.write_text("rules: [{match: {terminal: BNI00101}, respond: '91'}]")
        ruled.reload_rules()
        await client.send(echo_request("BNI00101"))
        answer = await client.message()
        assert answer is not None and answer["39"] == "91"
        # A broken file keeps the rules in force.
        rules.write_text("rules: [{match: {termnal: X}, action: drop}]")
        ruled.reload_rules()
        await client.send(echo_request("BNI00101"))
        answer = await client.message()
        assert answer is not None and answer["39"] == "91"
        assert ruled.switch.open_connections == 1


@pytest.mark.parametrize("text, refusal", [
    ("rules:\n  - {match: {mti: '0200'}, action: explode}\n",
     r"rules.yaml: rule 1: the switch has no action 'explode'"),
    # A field override the wire cannot carry: found at start, not as an answer that fails.
    ("rules: [{respond: {code: '05', fields: {'41': 'TOO-LONG-TERMINAL'}}}]\n",
     r"rules.yaml: rule 1: .*41"),
])
async def test_a_bad_rules_file_is_one_line_at_start(amqtt_broker: EmbeddedBroker,
                                                     data_dir: Path, text: str,
                                                     refusal: str) -> None:
    rules = data_dir.parent / "rules.yaml"
    rules.write_text(text)
    settings = stack_settings(data_dir, amqtt_broker.endpoint.secret_url)
    settings.switch.rules = str(rules)
    with pytest.raises(StackError, match=refusal):
        async with Stack(settings, {"switch"}):
            await asyncio.sleep(0)


async def test_hsm_and_ledger_rules_reach_the_atm_through_the_switch(
        amqtt_broker: EmbeddedBroker, data_dir: Path) -> None:
    # The HSM says "wrong PIN" for Budi's account (PAN digits 4-15 in the DA/DC body);
    # the ledger never answers for Siti's KPJ.
    hsm_rules = data_dir.parent / "hsm.yaml"
    hsm_rules.write_text("- {match: {command: [DA, DC], fields: {body: '422000010001'}}, "
                         "error: '01'}\n")
    ledger_rules = data_dir.parent / "ledger.yaml"
    ledger_rules.write_text("- {match: {kpj: '12087654321'}, action: no_reply}\n")
    settings = stack_settings(data_dir, amqtt_broker.endpoint.secret_url)
    settings.mqtt.protocol, settings.mqtt.shared_subscriptions = "3.1.1", "no"
    settings.hsm.rules, settings.ledger.rules = str(hsm_rules), str(ledger_rules)
    async with Stack(settings) as stack, link_to(stack) as link:
        codes = [(await inquire(link, card(name)))[1].response_code
                 for name in ("Budi", "Siti", "Dewi")]
    assert codes == ["55", "91", "00"]
