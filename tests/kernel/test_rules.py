"""The rule engine's file format: what a user writes, what is refused and why."""

from __future__ import annotations

import pytest

from atmsim.kernel.rules import HSM_SCHEMA, LEDGER_SCHEMA, SWITCH_SCHEMA, RuleError, parse_rules


@pytest.mark.parametrize("text, message", [
    ("rules: [{match: {mti: '0200'}}]", "rule 1: no action"),
    ("rules: [{match: {stan: '1'}, action: drop}]", "cannot match on 'stan'"),
    ("rules: [{match: {fields: {'2': '('}}, action: drop}]", "field 2: bad regular expression"),
    ("rules: [{match: {amount: {over: 5}}, action: drop}]", "amount takes a number or"),
    ("rules: [{action: drop, delay: -1}]", "delay cannot be negative"),
    ("rules: [{action: drop, delay: {distribution: pareto}}]", "distribution must be one of"),
    ("rules: [{respond: 'toolong'}]", "a response code is two characters"),
    ("rules: [{garbage: {bytes: 0}}]", "garbage bytes must be 1-4096"),
    ("rules: [{action: drop, colour: red}]", "unknown key 'colour'"),
    ("rules: {a: 1}", "expected a list of rules"),
    ("rules: [", "not YAML at line 1"),
])
def test_a_bad_switch_rule_is_refused_with_where_and_why(text: str, message: str) -> None:
    with pytest.raises(RuleError, match=message):
        parse_rules(text, SWITCH_SCHEMA, "r.yaml")


def test_yaml_numbers_are_read_as_codes() -> None:
    # 0200 and 00 unquoted are numbers to YAML: an MTI and a code are still matched as text.
    rules = parse_rules("rules: [{match: {mti: 800}, respond: 5}]", SWITCH_SCHEMA)
    assert rules.first_match({"mti": "800"}) is not None
    assert rules.rules[0].action.code == "05"


def test_each_host_has_its_own_vocabulary() -> None:
    with pytest.raises(RuleError, match="the hsm has no action 'wrong_stan'"):
        parse_rules("[{action: wrong_stan}]", HSM_SCHEMA)
    with pytest.raises(RuleError, match="an HSM error is a two-digit error code"):
        parse_rules("[{error: {reason: x}}]", HSM_SCHEMA)
    ledger = parse_rules("[{match: {type: post}, error: storage down}]", LEDGER_SCHEMA)
    assert ledger.rules[0].action.reason == "storage down"


def test_amount_range_and_prefix_lists() -> None:
    rules = parse_rules("""
- {name: big, match: {amount: {min: 100}, pan_prefix: ["4", "5264"]}, action: drop}
""", SWITCH_SCHEMA)
    assert rules.first_match({"amount": 150, "pan": "5264220000100010"}) is not None
    assert rules.first_match({"amount": 99, "pan": "5264220000100010"}) is None
    assert rules.first_match({"amount": 150, "pan": "3714"}) is None
    assert rules.first_match({"amount": 150}) is None  # no PAN: a prefix cannot hold


def test_seeded_delays_repeat_from_file_to_file() -> None:
    text = "[{action: delay, delay: {distribution: exponential, mean: 0.2, seed: 9}}]"
    first, second = (parse_rules(text, SWITCH_SCHEMA).rules[0].action for _ in range(2))
    draws = [first.wait() for _ in range(5)]
    assert draws == [second.wait() for _ in range(5)]
    assert len(set(draws)) == 5
