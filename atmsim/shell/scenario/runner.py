"""Runs scenarios against the addresses given and collects what happened, step by step.

A scenario's variables are, in order of precedence: a step's ``with``, what earlier steps
captured, ``--var``, the scenario's ``vars``, the pack's ``_vars.yaml`` files, the built-in
demo defaults (``values.BUILTIN_VARS``). A scenario is skipped (with its reason) when it is
``pending`` or ``opt_in`` and not included by one of its tags, or when a variable it
``needs`` has no value; it is an error (exit 1, not a traceback) when it refers to a
variable nobody sets or drives a link it was not given.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from atmsim.kernel.bus import MqttEndpoint
from atmsim.kernel.wire import WireProfile, default_profile
from atmsim.shell.scenario.links import AtmLink, BusLink, HsmLink, LinkError
from atmsim.shell.scenario.model import (
    VAR_PATTERN,
    Matcher,
    Scenario,
    ScenarioError,
    Step,
    load_scenario,
    load_vars,
    scenario_files,
)
from atmsim.shell.scenario.values import (
    BUILTIN_VARS,
    TEMPLATES,
    MessageValues,
    ValueError_,
    build_message,
    joined,
    resolve,
)

__all__ = ["Failure", "RunResult", "ScenarioResult", "StepResult", "Targets", "run_scenarios",
           "load_pack"]


@dataclass(frozen=True)
class Targets:
    atm: tuple[str, int] | None = None
    hsm: tuple[str, int] | None = None
    broker: MqttEndpoint | None = None


@dataclass(frozen=True)
class Failure:
    """One expectation that did not hold: what, expected, got (raw; masked when shown)."""

    key: str
    expected: str
    got: str | None


@dataclass
class StepResult:
    path: str
    name: str
    kind: str
    line: int
    ok: bool = True
    error: str | None = None
    failures: list[Failure] = field(default_factory=list)
    request: dict[str, Any] | None = None
    response: dict[str, Any] | None = None
    seconds: float = 0.0


@dataclass
class ScenarioResult:
    name: str
    path: Path
    tags: tuple[str, ...]
    status: str = "passed"  # passed, failed, error, skipped
    reason: str = ""
    steps: list[StepResult] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def step_count(self) -> int:
        return len(self.steps)


@dataclass
class RunResult:
    scenarios: list[ScenarioResult]
    seconds: float

    @property
    def ok(self) -> bool:
        return all(s.status in ("passed", "skipped") for s in self.scenarios) and any(
            s.status == "passed" for s in self.scenarios)

    def count(self, status: str) -> int:
        return sum(1 for s in self.scenarios if s.status == status)

    @property
    def steps(self) -> int:
        return sum(s.step_count for s in self.scenarios)

    @property
    def steps_per_second(self) -> float:
        busy = sum(s.seconds for s in self.scenarios if s.status != "skipped")
        return self.steps / busy if busy > 0 else 0.0


def load_pack(*targets: Path) -> list[Scenario]:
    """The scenarios of files and directories, each with the shared variables of every
    ``_vars.yaml`` from its directory (the one given, or a file's own) down to it (a
    deeper file overrides)."""
    scenarios: list[Scenario] = []
    for target in targets:
        files = scenario_files(target)
        if not files:
            raise ScenarioError(f"{target}: no scenario files (*.yaml) found")
        root = target if target.is_dir() else target.parent
        found = sorted(root.rglob("_vars.yaml"), key=lambda p: len(p.parts))
        cache = {path: load_vars(path) for path in found}
        for path in files:
            scenario = load_scenario(path)
            for vars_file, values in cache.items():
                if path.is_relative_to(vars_file.parent):
                    scenario.defaults.update(values)
            scenarios.append(scenario)
    return scenarios


# -- static checks --------------------------------------------------------------------

def _names(value: Any) -> set[str]:
    if isinstance(value, str):
        return {m.group(1) for m in VAR_PATTERN.finditer(value)
                if not m.group(1).startswith("new.")}
    if isinstance(value, dict):
        return set().union(*(_names(v) for v in value.values())) if value else set()
    if isinstance(value, list):
        return set().union(*(_names(v) for v in value)) if value else set()
    return set()


def _step_fields(step: Step) -> dict[str, Any]:
    if step.kind != "send":
        return step.message
    if step.template is None:
        return step.message
    return {**TEMPLATES[step.template], **step.message}


def check_variables(scenario: Scenario, known: set[str]) -> None:
    """``ScenarioError`` (file:line) for a template or a variable nobody defines."""
    available = set(known)

    def walk(steps: list[Step]) -> None:
        for step in steps:
            if step.kind == "send" and step.template is not None \
                    and step.template not in TEMPLATES:
                raise ScenarioError(f"{scenario.path}:{step.line}: step {step.name!r}: unknown "
                                    f"template {step.template!r} ({', '.join(TEMPLATES)})")
            if step.kind == "send" and "t" not in _step_fields(step):
                raise ScenarioError(f"{scenario.path}:{step.line}: step {step.name!r}: the "
                                    "message has no MTI (t) and no template")
            local = available | set(step.with_vars)
            missing = (_names(_step_fields(step)) | _names(step.with_vars)) - local
            if missing:
                raise ScenarioError(f"{scenario.path}:{step.line}: step {step.name!r}: unknown "
                                    f"variable ${{{sorted(missing)[0]}}}")
            walk(step.steps)
            available.update(step.capture)

    walk(scenario.steps)


# -- running --------------------------------------------------------------------------

class _Run:
    def __init__(self, scenario: Scenario, variables: dict[str, Any], targets: Targets,
                 profile: WireProfile) -> None:
        self.scenario = scenario
        self.vars = variables
        self.targets = targets
        self.profile = profile
        self.results: list[StepResult] = []
        self._atm: AtmLink | None = None
        self._hsm: HsmLink | None = None
        self._bus: BusLink | None = None

    async def close(self) -> None:
        for link in (self._atm, self._hsm, self._bus):
            if link is not None:
                await link.close()

    def atm(self) -> AtmLink:
        if self._atm is None:
            assert self.targets.atm is not None
            self._atm = AtmLink(*self.targets.atm, profile=self.profile)
        return self._atm

    def hsm(self) -> HsmLink:
        if self._hsm is None:
            assert self.targets.hsm is not None
            self._hsm = HsmLink(*self.targets.hsm)
        return self._hsm

    def bus(self) -> BusLink:
        if self._bus is None:
            assert self.targets.broker is not None
            self._bus = BusLink(self.targets.broker)
        return self._bus

    async def steps(self, steps: list[Step], prefix: str) -> bool:
        for i, step in enumerate(steps):
            if not await self.step(step, f"{prefix}{i + 1}"):
                return False
        return True

    async def step(self, step: Step, path: str) -> bool:
        if step.kind == "group":
            return await self.steps(step.steps, f"{path}.")
        if step.kind == "repeat":
            for n in range(step.times):
                if not await self.steps(step.steps, f"{path}.{n + 1}."):
                    return False
            return True
        if step.kind == "parallel":
            outcomes = await asyncio.gather(*(self.step(s, f"{path}.{i + 1}")
                                              for i, s in enumerate(step.steps)))
            return all(outcomes)
        result = StepResult(path, step.name, step.kind, step.line)
        self.results.append(result)
        started = time.perf_counter()
        try:
            if step.kind == "wait":
                await asyncio.sleep(step.seconds)
            else:
                generated = MessageValues.fresh()
                variables = {**self.vars, **{k: resolve(v, self.vars, generated)
                                             for k, v in step.with_vars.items()}}
                if step.kind == "send":
                    await self._send(step, variables, result)
                elif step.kind == "hsm":
                    await self._hsm_command(step, variables, result)
                else:
                    await self._bus_request(step, variables, result)
        except (LinkError, ValueError_) as exc:
            result.ok, result.error = False, str(exc)
        result.seconds = time.perf_counter() - started
        if result.failures:
            result.ok = False
        return result.ok

    async def _send(self, step: Step, variables: dict[str, Any], result: StepResult) -> None:
        fields = _step_fields(step)
        request = build_message(self.profile, fields, variables, MessageValues.fresh())
        result.request = request
        timeout = step.no_reply if step.no_reply is not None else step.timeout
        _, reply = await self.atm().exchange(request, unchecked=step.unchecked,
                                             timeout=timeout,
                                             expect_reply=step.no_reply is None)
        if step.no_reply is not None:
            if reply is not None:
                result.response = reply
                result.failures.append(Failure("reply", f"none within {step.no_reply:g} s",
                                               f"{reply.get('t')} with 39={reply.get('39')}"))
            return
        assert reply is not None
        result.response = reply
        for key, matcher in step.expect.items():
            failure = _check(key, matcher, reply.get(key), request.get(key), variables)
            if failure is not None:
                result.failures.append(failure)
        self._capture(step, reply, result)

    def _capture(self, step: Step, reply: Mapping[str, Any], result: StepResult) -> None:
        for var, key in step.capture.items():
            if key in reply:
                self.vars[var] = reply[key]
            else:
                result.failures.append(Failure(key, f"present (to capture {var})", None))

    async def _hsm_command(self, step: Step, variables: dict[str, Any],
                           result: StepResult) -> None:
        generated = MessageValues.fresh()
        code = step.message["command"]
        data = joined(step.message.get("data", ""), variables, generated)
        header = step.message.get("header")
        result.request = {"command": code, "data": data}
        response, error, rest = await self.hsm().command(code, data, step.timeout, header)
        result.response = {"response": response, "error": error, "data": rest}
        for key, matcher in step.expect.items():
            failure = _check(key, matcher, result.response.get(key), None, variables)
            if failure is not None:
                result.failures.append(failure)
        for var, pattern in step.capture.items():
            found = re.search(pattern, rest)
            if found is None:
                result.failures.append(Failure("data", f"matching /{pattern}/ (to capture "
                                                       f"{var})", rest))
            else:
                self.vars[var] = found.group(1)

    async def _bus_request(self, step: Step, variables: dict[str, Any],
                           result: StepResult) -> None:
        payload = resolve(step.message["payload"], variables, MessageValues.fresh())
        topic = resolve(step.message["topic"], variables, MessageValues.fresh())
        result.request = {"topic": topic, **payload}
        reply = await self.bus().request(topic, payload, step.timeout)
        result.response = reply
        for key, matcher in step.expect.items():
            failure = _check(key, matcher, reply.get(key), None, variables, present=key in reply)
            if failure is not None:
                result.failures.append(failure)
        self._capture(step, reply, result)


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def _check(key: str, matcher: Matcher, got: Any, sent: Any, variables: Mapping[str, Any],
           present: bool | None = None) -> Failure | None:
    there = got is not None if present is None else present
    if matcher.kind == "present":
        return None if there else Failure(key, "present", None)
    if matcher.kind == "absent":
        return None if not there else Failure(key, "absent", _text(got))
    if matcher.kind == "echo":
        return None if got == sent and sent is not None else Failure(
            key, f"echo of the request ({sent!r})" if sent is not None else "echo", _text(got))
    expected = matcher.value
    if isinstance(expected, str):
        expected = resolve(expected, variables, MessageValues.fresh())
    if matcher.kind == "regex":
        if got is not None and re.fullmatch(str(expected), str(got)):
            return None
        return Failure(key, f"matching /{expected}/", _text(got))
    if got == expected:
        return None
    # A number from a JSON reply against its text from a variable (or the other way): the
    # same value. Booleans and null only equal themselves.
    if None not in (got, expected) and not isinstance(got, bool) \
            and not isinstance(expected, bool) and str(got) == str(expected):
        return None
    return Failure(key, repr(expected), _text(got))


async def run_scenario(scenario: Scenario, cli_vars: Mapping[str, Any], targets: Targets, *,
                       include: set[str], profile: WireProfile) -> ScenarioResult:
    result = ScenarioResult(scenario.name, scenario.path, scenario.tags)
    variables = {**BUILTIN_VARS, **scenario.defaults, **scenario.vars, **cli_vars}
    if scenario.pending is not None and not (include & ({"all"} | set(scenario.tags))):
        result.status, result.reason = "skipped", f"pending: {scenario.pending}"
        return result
    if scenario.opt_in is not None and not (include & ({"all"} | set(scenario.tags))):
        result.status, result.reason = "skipped", f"opt-in: {scenario.opt_in}"
        return result
    for name, why in scenario.needs.items():
        if variables.get(name) in (None, ""):
            result.status, result.reason = "skipped", f"needs --var {name}=...: {why}"
            return result
    links = {"atm": targets.atm, "hsm": targets.hsm, "bus": targets.broker}
    flags = {"atm": "--target", "hsm": "--hsm", "bus": "--broker"}
    for link in sorted(scenario.links):
        if links[link] is None:
            result.status, result.reason = "error", f"needs {flags[link]} (a {link} step)"
            return result
    try:
        check_variables(scenario, set(variables))
    except ScenarioError as exc:
        result.status, result.reason = "error", str(exc)
        return result
    try:  # drawn once: a scenario's ``stan: ${new.stan}`` is one STAN for all its steps
        generated = MessageValues.fresh()
        variables = {k: resolve(v, variables, generated) for k, v in variables.items()}
    except ValueError_ as exc:
        result.status, result.reason = "error", f"{scenario.path}: {exc}"
        return result
    run = _Run(scenario, variables, targets, profile)
    started = time.perf_counter()
    try:
        ok = await run.steps(scenario.steps, "")
    finally:
        await run.close()
        result.seconds = time.perf_counter() - started
    result.steps = run.results
    if not ok:
        result.status = "failed"
        bad = next(s for s in run.results if not s.ok)
        result.reason = bad.error or f"step {bad.path} {bad.name!r}: " + "; ".join(
            f"{f.key}" for f in bad.failures) + " not as expected"
    return result


async def run_scenarios(scenarios: list[Scenario], cli_vars: Mapping[str, Any],
                        targets: Targets, *,
                        include: set[str] | None = None, exclude: set[str] | None = None,
                        profile: WireProfile | None = None) -> RunResult:
    """Run each scenario in turn (each on its own connections) and collect the results."""
    profile = profile or default_profile()
    started = time.perf_counter()
    results = []
    for scenario in scenarios:
        if exclude and exclude & set(scenario.tags):
            skipped = ScenarioResult(scenario.name, scenario.path, scenario.tags, "skipped",
                                     "excluded by tag " + sorted(exclude & set(scenario.tags))[0])
            results.append(skipped)
            continue
        results.append(await run_scenario(scenario, cli_vars, targets,
                                          include=include or set(), profile=profile))
    return RunResult(results, time.perf_counter() - started)
