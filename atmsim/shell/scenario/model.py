"""Scenario files (docs/scenarios.md): YAML in, checked ``Scenario`` objects out.

One file is one scenario: a name, tags, variables and ordered steps. Loading checks the
whole file before anything is sent and raises ``ScenarioError`` with one line naming the
file, the line and the step ("cert/55.yaml:14: step 'wrong PIN': unknown key 'expcet'").
Pure: no I/O but reading the file.

YAML is read with PyYAML's safe loader (a subclass that only remembers where each mapping
started, for those messages): no Python objects can be built from a scenario file.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

__all__ = [
    "Matcher",
    "Scenario",
    "ScenarioError",
    "Step",
    "load_scenario",
    "load_vars",
    "scenario_files",
    "VAR_PATTERN",
]

# ${name}, ${new.stan}: letters, digits, underscores and dots.
VAR_PATTERN = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_.]*)\}")
GENERATED = ("new.stan", "new.rrn", "new.time", "new.local_time", "new.local_date",
             "new.date")


class ScenarioError(ValueError):
    """A scenario file that cannot be run; the message is one line with file:line."""


class _LineDict(dict[str, Any]):
    line = 0


class _Loader(yaml.SafeLoader):
    """The safe loader, plus the line each mapping starts on (1-based)."""


def _construct_mapping(loader: _Loader, node: yaml.MappingNode) -> _LineDict:
    loader.flatten_mapping(node)
    mapping = _LineDict()
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        mapping[str(key)] = loader.construct_object(value_node, deep=True)
    mapping.line = node.start_mark.line + 1
    return mapping


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


@dataclass(frozen=True)
class Matcher:
    """One expectation on a value: ``equals``, ``regex``, ``present``, ``absent``, ``echo``
    (the same as the request's field)."""

    kind: str
    value: Any = None

    def describe(self) -> str:
        if self.kind == "equals":
            return repr(self.value)
        if self.kind == "regex":
            return f"matching /{self.value}/"
        return self.kind  # present, absent, echo


@dataclass
class Step:
    """One step. ``kind`` is send, hsm, bus, wait, repeat, parallel or group."""

    kind: str
    name: str
    line: int
    message: dict[str, Any] = field(default_factory=dict)  # send: fields; hsm/bus: request
    template: str | None = None
    unchecked: bool = False
    with_vars: dict[str, Any] = field(default_factory=dict)
    expect: dict[str, Matcher] = field(default_factory=dict)
    capture: dict[str, str] = field(default_factory=dict)
    timeout: float = 5.0
    no_reply: float | None = None  # send: expect no reply within this many seconds
    seconds: float = 0.0  # wait
    times: int = 1  # repeat
    steps: list[Step] = field(default_factory=list)  # repeat, parallel, group

    def count(self) -> int:
        """How many leaf steps this step runs."""
        if self.kind in ("repeat", "group", "parallel"):
            return self.times * sum(s.count() for s in self.steps)
        return 1


@dataclass
class Scenario:
    name: str
    path: Path
    description: str = ""
    tags: tuple[str, ...] = ()
    vars: dict[str, Any] = field(default_factory=dict)
    needs: dict[str, str] = field(default_factory=dict)  # variable -> why it is needed
    pending: str | None = None  # skipped unless included: why
    # Runs only when included by tag: a scenario that needs its target prepared (a host
    # made to fail) and would fail against one that was not. Says how to prepare it.
    opt_in: str | None = None
    steps: list[Step] = field(default_factory=list)
    defaults: dict[str, Any] = field(default_factory=dict)  # its pack's _vars.yaml files

    @property
    def links(self) -> set[str]:
        found: set[str] = set()

        def walk(steps: list[Step]) -> None:
            for s in steps:
                if s.kind == "send":
                    found.add("atm")
                elif s.kind in ("hsm", "bus"):
                    found.add(s.kind)
                walk(s.steps)

        walk(self.steps)
        return found

    def count(self) -> int:
        return sum(s.count() for s in self.steps)


_SCENARIO_KEYS = {"name", "description", "tags", "vars", "needs", "pending", "opt_in", "steps"}
_STEP_KINDS = ("send", "hsm", "bus", "wait", "repeat", "parallel", "group")
_COMMON_KEYS = {"name"}
_STEP_KEYS = {
    "send": {"send", "template", "unchecked", "with", "expect", "capture", "timeout",
             "no_reply"},
    "hsm": {"hsm", "with", "expect", "capture", "timeout"},
    "bus": {"bus", "with", "expect", "capture", "timeout"},
    "wait": {"wait"},
    "repeat": {"repeat", "steps"},
    "parallel": {"parallel"},
    "group": {"group"},
}
_KEYWORD_MATCHERS = {"present", "absent", "echo"}


class _Where:
    def __init__(self, path: Path) -> None:
        self.path = path

    def error(self, line: int, what: str) -> ScenarioError:
        return ScenarioError(f"{self.path}:{line}: {what}")


def _line(node: Any, default: int) -> int:
    return getattr(node, "line", default) or default


def scenario_files(target: Path) -> list[Path]:
    """The scenario files of a file or a directory (recursively, sorted; files whose name
    starts with ``_`` hold shared variables, not scenarios)."""
    if target.is_dir():
        return sorted(p for p in target.rglob("*.y*ml")
                      if p.suffix in (".yaml", ".yml") and not p.name.startswith("_"))
    if not target.exists():
        raise ScenarioError(f"{target}: no such file or directory")
    return [target]


def _read_yaml(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ScenarioError(f"{path}: cannot be read: {getattr(exc, 'strerror', None) or exc}"
                            ) from None
    try:
        return yaml.load(text, Loader=_Loader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f":{mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ScenarioError(f"{path}{line}: not valid YAML: {problem}") from None


def load_vars(path: Path) -> dict[str, Any]:
    """A variables file: one mapping of names to scalar values."""
    data = _read_yaml(path)
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ScenarioError(f"{path}:1: a variables file is one mapping of name: value")
    for key, value in data.items():
        if isinstance(value, (dict, list)):
            raise ScenarioError(f"{path}:{_line(data, 1)}: variable {key!r} must be a "
                                "single value")
    return {k: _scalar(v) for k, v in data.items()}


def _scalar(value: Any) -> Any:
    return value if value is None or isinstance(value, (bool, int, float)) else str(value)


def load_scenario(path: Path) -> Scenario:
    """Read and check one scenario file; ``ScenarioError`` (one line) when it is wrong."""
    where = _Where(path)
    data = _read_yaml(path)
    if not isinstance(data, _LineDict):
        raise where.error(1, "a scenario is a mapping with name and steps")
    unknown = set(data) - _SCENARIO_KEYS
    if unknown:
        raise where.error(data.line, f"unknown key {sorted(unknown)[0]!r} (a scenario has "
                                     f"{', '.join(sorted(_SCENARIO_KEYS))})")
    name = data.get("name")
    if not isinstance(name, str) or not name.strip():
        raise where.error(data.line, "the scenario needs a name")
    tags = data.get("tags") or []
    if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
        raise where.error(data.line, "tags must be a list of words")
    variables = data.get("vars") or {}
    if not isinstance(variables, dict):
        raise where.error(data.line, "vars must be a mapping of name: value")
    needs = data.get("needs") or {}
    if not isinstance(needs, dict):
        raise where.error(data.line, "needs must be a mapping of variable: why it is needed")
    pending = data.get("pending")
    if pending is not None and not isinstance(pending, str):
        raise where.error(data.line, "pending must say why the scenario does not run yet")
    opt_in = data.get("opt_in")
    if opt_in is not None and not (isinstance(opt_in, str) and tags):
        raise where.error(data.line, "opt_in must say what the target needs, and the scenario "
                          "needs a tag to include it by")
    raw_steps = data.get("steps")
    if not isinstance(raw_steps, list) or not raw_steps:
        raise where.error(data.line, "steps must be a list with at least one step")
    steps = _steps(raw_steps, where, data.line, "")
    return Scenario(name=name.strip(), path=path, description=str(data.get("description", "")),
                    tags=tuple(tags), vars={k: _scalar(v) for k, v in variables.items()},
                    needs={k: str(v) for k, v in needs.items()},
                    pending=pending, opt_in=opt_in, steps=steps)


def _steps(raw: Any, where: _Where, line: int, prefix: str) -> list[Step]:
    if not isinstance(raw, list) or not raw:
        raise where.error(line, "a list of steps is needed here")
    return [_step(item, where, line, f"{prefix}{i + 1}") for i, item in enumerate(raw)]


def _step(raw: Any, where: _Where, parent_line: int, number: str) -> Step:
    line = _line(raw, parent_line)
    if not isinstance(raw, dict):
        raise where.error(line, f"step {number}: a step is a mapping (send:, hsm:, bus:, "
                                "wait:, repeat:, parallel: or group:)")
    name = str(raw.get("name") or f"step {number}")
    label = f"step {number} {name!r}" if raw.get("name") else f"step {number}"
    kinds = [k for k in _STEP_KINDS if k in raw]
    if len(kinds) != 1:
        raise where.error(line, f"{label}: needs exactly one of {', '.join(_STEP_KINDS)}")
    kind = kinds[0]
    unknown = set(raw) - _STEP_KEYS[kind] - _COMMON_KEYS
    if unknown:
        raise where.error(line, f"{label}: unknown key {sorted(unknown)[0]!r} for a {kind} "
                                f"step (it takes {', '.join(sorted(_STEP_KEYS[kind]))})")
    step = Step(kind=kind, name=name, line=line)
    try:
        _fill(step, raw, where, number)
    except ScenarioError:
        raise
    except (TypeError, ValueError) as exc:
        raise where.error(line, f"{label}: {exc}") from None
    return step


def _fill(step: Step, raw: dict[str, Any], where: _Where, number: str) -> None:
    kind = step.kind
    if kind == "wait":
        step.seconds = _seconds(raw["wait"], "wait")
        return
    if kind == "repeat":
        times = raw["repeat"]
        if not isinstance(times, int) or isinstance(times, bool) or not 1 <= times <= 100_000:
            raise ValueError("repeat takes a count from 1 to 100000")
        step.times = times
        step.steps = _steps(raw.get("steps"), where, step.line, f"{number}.")
        return
    if kind in ("parallel", "group"):
        step.steps = _steps(raw[kind], where, step.line, f"{number}.")
        return
    body = raw[kind]
    if kind == "send":
        if not isinstance(body, dict):
            raise ValueError("send takes a mapping of field: value")
        step.message = {_field_key(k): v for k, v in body.items()}
        template = raw.get("template")
        if template is not None and not isinstance(template, str):
            raise ValueError("template names a message template")
        step.template = template
        step.unchecked = bool(raw.get("unchecked", False))
        if raw.get("no_reply") is not None:
            step.no_reply = _seconds(raw["no_reply"], "no_reply")
            if raw.get("expect"):
                raise ValueError("no_reply and expect exclude each other")
    elif kind == "hsm":
        if not isinstance(body, dict) or not isinstance(body.get("command"), str) \
                or len(body["command"]) != 2:
            raise ValueError("hsm takes command (2 characters) and data")
        if set(body) - {"command", "data", "header"}:
            raise ValueError(f"unknown key {sorted(set(body) - {'command', 'data', 'header'})[0]!r}"
                             " in hsm (command, data, header)")
        data = body.get("data", "")
        if isinstance(data, list):
            if not all(isinstance(p, (str, int, dict)) for p in data):
                raise ValueError("hsm data is text, or a list of text and pin_block parts")
        elif not isinstance(data, (str, int)):
            raise ValueError("hsm data is text, or a list of text and pin_block parts")
        step.message = {k: (v if k == "data" and isinstance(v, list) else str(v))
                        for k, v in body.items()}
    else:  # bus
        if not isinstance(body, dict) or not isinstance(body.get("topic"), str) \
                or not isinstance(body.get("payload"), dict):
            raise ValueError("bus takes topic and payload (a mapping)")
        step.message = dict(body)
    with_vars = raw.get("with") or {}
    if not isinstance(with_vars, dict):
        raise ValueError("with takes a mapping of variable: value")
    step.with_vars = {k: _scalar(v) for k, v in with_vars.items()}
    expect = raw.get("expect") or {}
    if not isinstance(expect, dict):
        raise ValueError("expect takes a mapping of field: expectation")
    step.expect = {_expect_key(kind, k): _matcher(v, k) for k, v in expect.items()}
    if kind == "hsm":
        _hsm_expect(step.expect)
    if kind != "send" and any(m.kind == "echo" for m in step.expect.values()):
        raise ValueError("echo compares with a sent ISO 8583 field: send steps only")
    capture = raw.get("capture") or {}
    if not isinstance(capture, dict) or not all(isinstance(v, (str, int)) for v in
                                                capture.values()):
        raise ValueError("capture takes a mapping of variable: field")
    step.capture = {str(k): _expect_key(kind, v) for k, v in capture.items()}
    if kind == "hsm":
        for var, pattern in step.capture.items():
            try:
                compiled = re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"capture {var}: bad regex: {exc}") from None
            if compiled.groups < 1:
                raise ValueError(f"capture {var}: an hsm capture is a regex with a group")
    if raw.get("timeout") is not None:
        step.timeout = _seconds(raw["timeout"], "timeout")
        if step.timeout <= 0:
            raise ValueError("timeout must be above 0 seconds")


def _seconds(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 3600:
        raise ValueError(f"{what} takes seconds from 0 to 3600")
    return float(value)


def _field_key(key: Any) -> str:
    text = str(key)
    if text in ("t", "mti"):
        return "t"
    if not text.isdigit() or not 2 <= int(text) <= 128:
        raise ValueError(f"{text!r} is not a field number 2-128 (or t for the MTI)")
    return str(int(text))


_HSM_KEYS = ("error", "response", "data")


def _expect_key(kind: str, key: Any) -> str:
    """A field number (send) or a reply key (bus) as text; hsm capture values are regexes
    and pass through, its expectations are checked in ``_hsm_expect``."""
    return _field_key(key) if kind == "send" else str(key)


def _hsm_expect(expect: dict[str, Matcher]) -> None:
    unknown = set(expect) - set(_HSM_KEYS)
    if unknown:
        raise ValueError(f"expect {sorted(unknown)[0]!r}: an hsm reply has "
                         f"{', '.join(_HSM_KEYS)}")


def _matcher(value: Any, key: Any) -> Matcher:
    if isinstance(value, str) and value in _KEYWORD_MATCHERS:
        return Matcher(value)
    if isinstance(value, dict):
        if len(value) != 1:
            raise ValueError(f"expect {key}: one of equals, regex, present, absent, echo")
        (kind, arg), = value.items()
        if kind == "equals":
            return Matcher("equals", _scalar(arg))
        if kind == "regex":
            try:
                re.compile(str(arg))
            except re.error as exc:
                raise ValueError(f"expect {key}: bad regex: {exc}") from None
            return Matcher("regex", str(arg))
        if kind in ("present", "absent", "echo") and arg is True:
            return Matcher(kind)
        raise ValueError(f"expect {key}: unknown expectation {kind!r} (equals, regex, "
                         "present, absent, echo)")
    if isinstance(value, list):
        raise ValueError(f"expect {key}: a list is not an expectation")
    return Matcher("equals", _scalar(value))
