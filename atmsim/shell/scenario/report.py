"""What a scenario run shows: the readable report, JUnit XML and JSON.

Every value goes through the same masking as ``atmsim inquire``: PANs first 6 / last 4,
track 2 reduced to the masked PAN, PIN blocks never shown (only their length), NIKs and
names masked in ledger replies, HSM request data shown by length only (it carries PIN
blocks and keys under the LMK).

JUnit XML is written with the standard library's ``xml.etree.ElementTree``: the format is
a handful of elements (testsuites / testsuite / testcase / failure / error / skipped),
which ElementTree escapes correctly, and the maintained JUnit writers on PyPI add nothing
a CI reader needs (junit-xml has had no release since 2020).
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from typing import Any

from atmsim.kernel.masking import mask_digits_in_text, mask_name
from atmsim.shell.scenario.runner import Failure, RunResult, ScenarioResult, StepResult
from terminal_ui.device.wire_view import masked_value

__all__ = ["json_report", "junit_xml", "text_report"]

_MASKED_KEYS = {"nik": mask_digits_in_text, "name": mask_name}


def _show(kind: str, key: str, value: Any) -> str:
    if value is None:
        return "(absent)"
    text = str(value)
    if kind == "send" and key.isdigit():
        return masked_value(key, text)
    if kind == "bus" and key in _MASKED_KEYS:
        return _MASKED_KEYS[key](text)
    return text


def _show_expected(kind: str, failure: Failure) -> str:
    if kind == "send" and failure.key.isdigit() and failure.expected.startswith("'"):
        return repr(masked_value(failure.key, failure.expected.strip("'")))
    return failure.expected


def _masked(kind: str, message: dict[str, Any] | None, *, request: bool) -> dict[str, str]:
    if message is None:
        return {}
    if kind == "hsm" and request:
        return {"command": str(message.get("command")),
                "data": f"[{len(str(message.get('data', '')))} characters, not shown]"}
    return {k: _show(kind, k, v) for k, v in message.items() if not k.startswith("_")}


def _step_lines(step: StepResult) -> list[str]:
    lines = [f"    {_label(step)} (line {step.line}): " + (step.error or "expectations not met")]
    for f in step.failures:
        got = "(absent)" if f.got is None else repr(_show(step.kind, f.key, f.got))
        lines.append(f"      {f.key}: expected {_show_expected(step.kind, f)}, got {got}")
    if step.request is not None or step.response is not None:
        request = _masked(step.kind, step.request, request=True)
        response = _masked(step.kind, step.response, request=False)
        bad = {f.key for f in step.failures}
        lines.append(f"      {'':2} {'field':>8}  {'sent':<34} received")
        for key in sorted(set(request) | set(response), key=_order):
            mark = "!" if key in bad else " "
            lines.append(f"      {mark:2} {key:>8}  {request.get(key, ''):<34} "
                         f"{response.get(key, '')}")
        if step.response and "_error" in step.response:
            lines.append(f"      reply did not decode: {step.response['_error']}")
    return lines


def _label(step: StepResult) -> str:
    named = step.name and step.name != f"step {step.path}" and not step.name.startswith("step ")
    return f"step {step.path} {step.name!r}" if named else f"step {step.path}"


def _order(key: str) -> tuple[int, str]:
    if key == "t":
        return (-1, key)
    return (int(key), key) if key.isdigit() else (10_000, key)


def text_report(run: RunResult, *, verbose: bool = False) -> str:
    """The report: one line per scenario, the masked diff of every failed step, the sums."""
    lines = []
    for s in run.scenarios:
        mark = {"passed": "PASS", "failed": "FAIL", "error": "ERROR", "skipped": "SKIP"}[s.status]
        tail = f"  ({s.reason})" if s.status in ("skipped", "error") else ""
        lines.append(f"{mark:5} {s.name}  [{s.path}]{tail}")
        for step in s.steps:
            if not step.ok:
                lines.extend(_step_lines(step))
            elif verbose:
                lines.append(f"    ok  {_label(step)}")
    lines.append("")
    lines.append(f"{run.count('passed')} passed, {run.count('failed')} failed, "
                 f"{run.count('error')} errors, {run.count('skipped')} skipped; "
                 f"{run.steps} steps in {run.seconds:.2f} s "
                 f"({run.steps_per_second:,.0f} steps/s)")
    return "\n".join(lines)


def _failure_text(s: ScenarioResult) -> str:
    return "\n".join(line for step in s.steps if not step.ok for line in _step_lines(step))


def junit_xml(run: RunResult, suite: str = "atmsim scenarios") -> bytes:
    """JUnit XML: one testcase per scenario (classname: its file), failures with the diff."""
    root = ET.Element("testsuites", name=suite, tests=str(len(run.scenarios)),
                      failures=str(run.count("failed")), errors=str(run.count("error")),
                      skipped=str(run.count("skipped")), time=f"{run.seconds:.3f}")
    node = ET.SubElement(root, "testsuite", name=suite, tests=str(len(run.scenarios)),
                         failures=str(run.count("failed")), errors=str(run.count("error")),
                         skipped=str(run.count("skipped")), time=f"{run.seconds:.3f}")
    for s in run.scenarios:
        case = ET.SubElement(node, "testcase", name=s.name, classname=str(s.path),
                             time=f"{s.seconds:.3f}")
        if s.status == "failed":
            failure = ET.SubElement(case, "failure", message=mask_digits_in_text(s.reason))
            failure.text = _failure_text(s)
        elif s.status == "error":
            ET.SubElement(case, "error", message=s.reason)
        elif s.status == "skipped":
            ET.SubElement(case, "skipped", message=s.reason)
    ET.indent(root)
    return ET.tostring(root, encoding="utf-8", xml_declaration=True)


def json_report(run: RunResult) -> str:
    """The run as JSON (masked like the text report)."""
    def step(st: StepResult) -> dict[str, Any]:
        return {"path": st.path, "name": st.name, "kind": st.kind, "line": st.line,
                "ok": st.ok, "error": st.error, "seconds": round(st.seconds, 6),
                "failures": [{"key": f.key, "expected": _show_expected(st.kind, f),
                              "got": _show(st.kind, f.key, f.got)} for f in st.failures],
                "request": _masked(st.kind, st.request, request=True),
                "response": _masked(st.kind, st.response, request=False)}

    return json.dumps({
        "summary": {"passed": run.count("passed"), "failed": run.count("failed"),
                    "errors": run.count("error"), "skipped": run.count("skipped"),
                    "steps": run.steps, "seconds": round(run.seconds, 6),
                    "steps_per_second": round(run.steps_per_second, 1), "ok": run.ok},
        "scenarios": [{"name": s.name, "file": str(s.path), "tags": list(s.tags),
                       "status": s.status, "reason": s.reason,
                       "seconds": round(s.seconds, 6), "steps": [step(x) for x in s.steps]}
                      for s in run.scenarios],
    }, indent=2)
