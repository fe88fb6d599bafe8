"""Rule-driven hosts: the one engine behind ``atmsim switch|hsm|ledger --rules FILE``.

A rules file (YAML) lists rules; the first whose ``match`` holds for a request decides what
the host does with it, and a request no rule matches is handled as usual (docs/rules.md)::

    rules:
      - name: decline Budi
        match: {mti: "0200", pan_prefix: "526422", fields: {"41": "^BNI0000[1-3]$"}}
        respond: {code: "51", fields: {"44": "DECLINED BY RULE"}}
      - match: {terminal: BNI00009}
        delay: {distribution: uniform, low: 0.1, high: 0.4, seed: 7}
        action: drop

Each host says what it can match on and which actions it knows (a ``HostSchema``); a file
naming anything else is refused with the rule's number and what was wrong, so a typo never
silently turns into "no rule matched". Everything here is pure: ``parse_rules`` turns text
into a ``RuleSet``, ``RuleSet.first_match(facts)`` finds the rule for a request's facts (a
flat mapping the host builds: ``{"mti": "0200", "pan": ..., "fields": {...}}``), and
``RuleBook`` holds the rules a host serves with and swaps them on reload, keeping the old
ones when the new file is bad.
"""

from __future__ import annotations

import logging
import random
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

__all__ = [
    "ACTIONS",
    "Action",
    "Delay",
    "HostSchema",
    "Rule",
    "RuleBook",
    "RuleError",
    "RuleSet",
    "SWITCH_SCHEMA",
    "HSM_SCHEMA",
    "LEDGER_SCHEMA",
    "load_rules",
    "parse_rules",
]

log = logging.getLogger("atmsim.rules")

# Every action any host knows; a host's schema names the ones it takes.
ACTIONS = ("respond", "delay", "drop", "close", "garbage", "twice", "wrong_stan",
           "wrong_header", "error", "no_reply")
_DISTRIBUTIONS = ("uniform", "exponential", "normal")
_RULE_KEYS = {"name", "match", "action", "delay", "respond", "garbage", "error"}


class RuleError(ValueError):
    """A rules file that cannot be used; the message says which rule and why."""


@dataclass(frozen=True)
class HostSchema:
    """What a host's rules may say: ``exact`` facts (a value or a list of values),
    ``prefixes`` (``pan_prefix`` -> the ``pan`` fact), ``numeric`` facts (a number or
    ``{min, max}``), whether ``fields`` (field -> regex) applies, and the actions."""

    host: str
    exact: frozenset[str]
    actions: frozenset[str]
    prefixes: Mapping[str, str] = field(default_factory=dict)
    numeric: frozenset[str] = frozenset()
    fields: bool = True

    @property
    def keys(self) -> frozenset[str]:
        return (self.exact | self.numeric | frozenset(self.prefixes)
                | (frozenset({"fields"}) if self.fields else frozenset()))


SWITCH_SCHEMA = HostSchema(
    "switch", frozenset({"mti", "processing_code", "pan", "kpj", "terminal"}),
    frozenset({"respond", "delay", "drop", "close", "garbage", "twice", "wrong_stan"}),
    prefixes={"pan_prefix": "pan"}, numeric=frozenset({"amount"}))
HSM_SCHEMA = HostSchema(
    "hsm", frozenset({"command"}),
    frozenset({"error", "delay", "drop", "close", "garbage", "twice", "wrong_header"}))
LEDGER_SCHEMA = HostSchema(
    "ledger", frozenset({"type", "kpj", "channel", "terminal"}),
    frozenset({"error", "delay", "no_reply"}))


@dataclass(frozen=True)
class Delay:
    """A fixed delay (``seconds``) or one drawn from a distribution with its own seed, so
    that the same file gives the same sequence of delays on every run."""

    seconds: float = 0.0
    distribution: str = ""
    low: float = 0.0
    high: float = 0.0
    mean: float = 0.0
    stddev: float = 0.0
    rng: random.Random | None = field(default=None, compare=False, repr=False)

    def draw(self) -> float:
        """The next delay in seconds (never negative).

        >>> Delay(0.25).draw()
        0.25
        >>> d = Delay(distribution="uniform", low=0.1, high=0.2, rng=random.Random(1))
        >>> round(d.draw(), 4), round(d.draw(), 4)
        (0.1134, 0.1847)
        """
        if self.rng is None:
            return self.seconds
        if self.distribution == "uniform":
            value = self.rng.uniform(self.low, self.high)
        elif self.distribution == "exponential":
            value = self.rng.expovariate(1 / self.mean) if self.mean > 0 else 0.0
        else:
            value = self.rng.gauss(self.mean, self.stddev)
        return max(0.0, value)


@dataclass(frozen=True)
class Action:
    """What a matched rule makes the host do. ``kind`` is one of ``ACTIONS`` (``delay``
    alone: wait, then answer as usual); ``delay`` comes first whatever the kind. ``code``
    and ``fields`` for ``respond`` (ISO field 39 and overrides) and ``error`` (a payShield
    error code; the ledger: an ERROR reply with ``reason``); ``garbage_bytes`` and
    ``framed`` for ``garbage``."""

    kind: str
    delay: Delay | None = None
    code: str | None = None
    fields: Mapping[str, str] = field(default_factory=dict)
    reason: str = ""
    garbage_bytes: int = 16
    framed: bool = True

    def wait(self) -> float:
        """Seconds to wait before acting (0 without a delay)."""
        return self.delay.draw() if self.delay is not None else 0.0


@dataclass(frozen=True)
class _Condition:
    key: str
    values: tuple[str, ...] = ()
    prefix_of: str = ""
    low: float | None = None
    high: float | None = None
    patterns: Mapping[str, re.Pattern[str]] = field(default_factory=dict)

    def holds(self, facts: Mapping[str, Any]) -> bool:
        if self.patterns:
            fields = facts.get("fields") or {}
            for number, pattern in self.patterns.items():
                value = fields.get(number)
                if value is None or pattern.search(str(value)) is None:
                    return False
            return True
        if self.prefix_of:
            value = facts.get(self.prefix_of)
            return value is not None and any(str(value).startswith(p) for p in self.values)
        value = facts.get(self.key)
        if value is None:
            return False
        if self.low is not None or self.high is not None:
            try:
                amount = float(value)
            except (TypeError, ValueError):
                return False
            return ((self.low is None or amount >= self.low)
                    and (self.high is None or amount <= self.high))
        return str(value) in self.values


@dataclass(frozen=True)
class Rule:
    """One rule: its conditions (all must hold; none: every request) and its action."""

    name: str
    conditions: tuple[_Condition, ...]
    action: Action

    def matches(self, facts: Mapping[str, Any]) -> bool:
        return all(condition.holds(facts) for condition in self.conditions)


@dataclass(frozen=True)
class RuleSet:
    """The rules of one file, in order; ``source`` says where they came from."""

    rules: tuple[Rule, ...] = ()
    source: str = ""

    def first_match(self, facts: Mapping[str, Any]) -> Rule | None:
        """The first rule whose conditions hold for ``facts``, or None.

        >>> rules = parse_rules('''
        ... rules:
        ...   - {name: slow, match: {mti: ["0200", "0100"], amount: {max: 500}}, action: drop}
        ... ''', SWITCH_SCHEMA)
        >>> rules.first_match({"mti": "0200", "amount": "000000000100"}).name
        'slow'
        >>> rules.first_match({"mti": "0800"}) is None
        True
        """
        for rule in self.rules:
            if rule.matches(facts):
                return rule
        return None

    def __len__(self) -> int:
        return len(self.rules)


def _text(value: Any) -> str:
    # YAML reads 0200 as an int (and 00 as 0): a code or an MTI is always text here.
    return value if isinstance(value, str) else str(value)


def _condition(key: str, value: Any, schema: HostSchema, where: str) -> _Condition:
    if key == "fields" and schema.fields:
        if not isinstance(value, dict) or not value:
            raise RuleError(f"{where}: fields must map a field to a regular expression")
        patterns: dict[str, re.Pattern[str]] = {}
        for number, pattern in value.items():
            try:
                patterns[_text(number)] = re.compile(_text(pattern))
            except re.error as exc:
                raise RuleError(f"{where}: field {number}: bad regular expression: {exc}") \
                    from None
        return _Condition(key, patterns=patterns)
    if key in schema.numeric:
        if isinstance(value, dict):
            unknown = set(value) - {"min", "max"}
            if unknown or not value:
                raise RuleError(f"{where}: {key} takes a number or {{min, max}}")
            try:
                low = float(value["min"]) if "min" in value else None
                high = float(value["max"]) if "max" in value else None
            except (TypeError, ValueError):
                raise RuleError(f"{where}: {key}: min and max are numbers") from None
            return _Condition(key, low=low, high=high)
        try:
            exact = float(value)
        except (TypeError, ValueError):
            raise RuleError(f"{where}: {key} takes a number or {{min, max}}") from None
        return _Condition(key, low=exact, high=exact)
    values = tuple(_text(v) for v in value) if isinstance(value, list) else (_text(value),)
    if not values:
        raise RuleError(f"{where}: {key} names no value")
    if key in schema.prefixes:
        return _Condition(key, values=values, prefix_of=schema.prefixes[key])
    return _Condition(key, values=values)


def _delay(value: Any, where: str) -> Delay:
    if isinstance(value, int | float) and not isinstance(value, bool):
        if value < 0:
            raise RuleError(f"{where}: delay cannot be negative")
        return Delay(float(value))
    if not isinstance(value, dict):
        raise RuleError(f"{where}: delay is seconds or {{distribution: ..., seed: N}}")
    kind = value.get("distribution")
    if kind not in _DISTRIBUTIONS:
        raise RuleError(f"{where}: delay distribution must be one of "
                        f"{', '.join(_DISTRIBUTIONS)}")
    try:
        numbers = {k: float(value.get(k, 0)) for k in ("low", "high", "mean", "stddev")}
        seed = int(value.get("seed", 0))
    except (TypeError, ValueError):
        raise RuleError(f"{where}: delay parameters are numbers") from None
    if kind == "uniform" and not 0 <= numbers["low"] <= numbers["high"]:
        raise RuleError(f"{where}: a uniform delay needs 0 <= low <= high")
    return Delay(distribution=kind, rng=random.Random(seed), **numbers)


def _action(entry: Mapping[str, Any], schema: HostSchema, where: str) -> Action:
    kind = entry.get("action")
    for implied in ("respond", "garbage", "error"):
        if implied in entry and kind is None:
            kind = implied
    if kind is None and "delay" in entry:
        kind = "delay"
    if kind is None:
        raise RuleError(f"{where}: no action (one of {', '.join(sorted(schema.actions))})")
    if kind not in schema.actions:
        raise RuleError(f"{where}: the {schema.host} has no action {kind!r} (it has "
                        f"{', '.join(sorted(schema.actions))})")
    delay = _delay(entry["delay"], where) if "delay" in entry else None
    detail = entry.get(kind)
    if detail is not None and not isinstance(detail, dict):
        # A bare value: the response or error code, or the ledger's ERROR reason.
        key = "reason" if kind == "error" and schema.host == "ledger" else "code"
        detail = {key: detail} if kind in ("respond", "error") else None
    detail = detail or {}
    code = detail.get("code")
    fields = detail.get("fields") or {}
    if not isinstance(fields, dict):
        raise RuleError(f"{where}: {kind} fields must map a field to its value")
    if kind == "error" and schema.host == "hsm" and (
            code is None or not re.fullmatch(r"\d\d", _text(code).zfill(2))):
        raise RuleError(f"{where}: an HSM error is a two-digit error code")
    if kind == "respond" and code is not None and not re.fullmatch(
            r"[0-9A-Z]{2}", _text(code).zfill(2)):
        raise RuleError(f"{where}: a response code is two characters, e.g. \"51\"")
    try:
        garbage_bytes = int(detail.get("bytes", 16))
    except (TypeError, ValueError):
        raise RuleError(f"{where}: garbage bytes is a number") from None
    if kind == "garbage" and not 1 <= garbage_bytes <= 4096:
        raise RuleError(f"{where}: garbage bytes must be 1-4096")
    return Action(kind, delay=delay,
                  code=None if code is None else _text(code).zfill(2),
                  fields={_text(k): _text(v) for k, v in fields.items()},
                  reason=_text(detail.get("reason", "")),
                  garbage_bytes=garbage_bytes, framed=bool(detail.get("framed", True)))


def parse_rules(text: str | list[Any] | dict[str, Any], schema: HostSchema,
                source: str = "<rules>") -> RuleSet:
    """The rules in ``text`` (YAML, or the list or mapping it would load as: rules from
    code, a test fixture's) for the host ``schema`` describes; ``RuleError`` says which
    rule is wrong and why.

    >>> len(parse_rules([{"match": {"terminal": "BNI00009"}, "respond": "05"}], SWITCH_SCHEMA))
    1

    >>> parse_rules("rules: [{match: {type: post}, action: twice}]", LEDGER_SCHEMA)
    ... # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    atmsim.kernel.rules.RuleError: <rules>: rule 1: the ledger has no action 'twice' (it ...)
    """
    document = load_user_yaml(text, source, RuleError)
    if document is None:
        return RuleSet((), source)
    entries = document.get("rules") if isinstance(document, dict) else document
    if not isinstance(entries, list):
        raise RuleError(f"{source}: expected a list of rules (rules: [...])")
    rules: list[Rule] = []
    for number, entry in enumerate(entries, 1):
        where = f"{source}: rule {number}"
        if not isinstance(entry, dict):
            raise RuleError(f"{where}: a rule is a mapping (match: ..., action: ...)")
        unknown = set(entry) - _RULE_KEYS - set(ACTIONS)
        if unknown:
            raise RuleError(f"{where}: unknown key {sorted(unknown)[0]!r}")
        match = entry.get("match") or {}
        if not isinstance(match, dict):
            raise RuleError(f"{where}: match is a mapping of what to match")
        conditions = []
        for key, value in match.items():
            if key not in schema.keys:
                raise RuleError(f"{where}: the {schema.host} cannot match on {key!r} (it "
                                f"matches on {', '.join(sorted(schema.keys))})")
            conditions.append(_condition(key, value, schema, where))
        rules.append(Rule(_text(entry.get("name", f"rule {number}")), tuple(conditions),
                          _action(entry, schema, where)))
    return RuleSet(tuple(rules), source)


def load_user_yaml(text: Any, source: str, error: type[Exception]) -> Any:
    """``text`` loaded as YAML (safe), or ``text`` itself when it is data already (rules or
    a schedule given from code); ``error`` naming ``source`` and the line when it is not
    YAML."""
    if not isinstance(text, str):
        return text
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" at line {mark.line + 1}" if mark is not None else ""
        raise error(f"{source}: not YAML{at}") from None


def read_user_file(path: str | Path, what: str, error: type[Exception]) -> str:
    """The text of a file the user wrote (rules, a fault schedule); ``error`` with one line
    naming it when it cannot be read."""
    try:
        return Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise error(f"{what} {path}: {getattr(exc, 'strerror', None) or exc}") from None


def load_rules(path: str | Path, schema: HostSchema) -> RuleSet:
    """The rules of the file at ``path``; ``RuleError`` when it cannot be read or used."""
    return parse_rules(read_user_file(path, "rules file", RuleError), schema, str(path))


class RuleBook:
    """The rules a host serves with: read from ``path`` (or given as ``rules``), swapped
    whole by ``reload`` so a request sees either the old or the new rules, never a mix.
    ``check`` is the host's own look at a file's rules (a field override its wire format
    cannot carry, say): it raises ``RuleError``, at start and on every reload."""

    def __init__(self, schema: HostSchema, path: str | Path | None = None,
                 rules: RuleSet | None = None,
                 check: Callable[[RuleSet], None] | None = None) -> None:
        self.schema = schema
        self.path = Path(path) if path is not None else None
        self._check = check
        self.rules = rules if rules is not None else (
            load_rules(self.path, schema) if self.path is not None else RuleSet())
        if check is not None:
            check(self.rules)

    def first_match(self, facts: Mapping[str, Any]) -> Rule | None:
        return self.rules.first_match(facts)

    def use(self, rules: RuleSet) -> None:
        """Serve with ``rules`` from now on (a test's, given as data), checked as a file's
        are: ``RuleError`` keeps the rules in force."""
        if self._check is not None:
            self._check(rules)
        self.rules = rules

    def reload(self) -> bool:
        """Read the file again; a bad file keeps the rules in force and logs one line."""
        if self.path is None:
            return False
        try:
            rules = load_rules(self.path, self.schema)
            if self._check is not None:
                self._check(rules)
        except RuleError as exc:
            log.warning("%s rules not reloaded, keeping the %d in force: %s",
                        self.schema.host, len(self.rules), exc)
            return False
        self.rules = rules
        log.info("%s rules reloaded from %s: %d rule(s)", self.schema.host, self.path,
                 len(rules))
        return True
