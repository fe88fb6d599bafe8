"""What a drill did to the answers, per fault: pure, from the load's outcomes.

For each fault: the first 91 after it began, the first answer that was not an approval
(whatever it was), the recovery time (from the fault's end to the first approval of an
inquiry sent after it ended), the inquiries sent while it lasted that were never answered
(lost: timed out or their connection went), the slowest answer among those sent while it
lasted (a retry that saved an inquiry still shows here), and the answers the ATMs received twice
(duplicated, seen on the ATM side of the hop). Times are seconds on the load's clock.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from atmsim.kernel.faults import Fault, Schedule
from atmsim.shell.load.runner import Outcome

__all__ = ["FaultFinding", "DrillReport", "assess", "format_drill", "drill_json"]


@dataclass(frozen=True)
class FaultFinding:
    fault: Fault
    first_91_s: float | None  # after the fault began
    first_failure: str | None  # the first answer (or failure) that was not 00
    first_failure_s: float | None
    recovery_s: float | None  # after the fault ended
    sent_during: int
    codes_during: dict[str, int]
    slowest_s: float | None  # the longest wait for an answer among those sent during it
    lost: int
    duplicated: int


@dataclass(frozen=True)
class DrillReport:
    schedule: Schedule
    findings: tuple[FaultFinding, ...]
    sent: int
    codes: dict[str, int]
    lost: int
    duplicated: int
    events: tuple[dict[str, Any], ...]


def _finding(fault: Fault, outcomes: Sequence[Outcome], duplicates: Sequence[float],
             window: float) -> FaultFinding:
    # What the fault can still cause: until its end plus one answer's worth of waiting.
    horizon = fault.end + window
    after = [o for o in outcomes if fault.start <= o.at <= horizon]
    first_91 = next((o.at - fault.start for o in after if o.code == "91"), None)
    failure = next((o for o in after if o.code != "00"), None)
    recovered = next((o.at - fault.end for o in outcomes
                      if o.code == "00" and o.sent >= fault.end), None)
    during = [o for o in outcomes if fault.start <= o.sent < fault.end]
    codes = Counter(o.code or o.failure for o in during)
    waits = [o.at - o.sent for o in during if o.code is not None]
    return FaultFinding(
        fault, first_91, None if failure is None else (failure.code or failure.failure),
        None if failure is None else failure.at - fault.start, recovered, len(during),
        dict(sorted(codes.items())), max(waits) if waits else None,
        sum(1 for o in during if o.code is None),
        sum(1 for t in duplicates if fault.start <= t <= horizon))


def assess(schedule: Schedule, outcomes: Sequence[Outcome], duplicates: Sequence[float],
           timeout: float, events: Sequence[dict[str, Any]] = ()) -> DrillReport:
    """The drill's findings from its inquiries' ``outcomes`` and the times of the
    duplicated answers; ``timeout`` is how long an ATM waited for an answer.

    >>> from atmsim.kernel.faults import parse_schedule
    >>> s = parse_schedule("faults: [{hop: switch-hsm, kind: partition, at: 1, for: 1}]", 1)
    >>> outcomes = [Outcome(0.5, 0.51, "00"), Outcome(1.1, 1.2, "91"),
    ...             Outcome(1.5, 3.5, None, "timeout"), Outcome(2.2, 2.3, "91"),
    ...             Outcome(2.4, 2.45, "00")]
    >>> f = assess(s, outcomes, [], timeout=2).findings[0]
    >>> round(f.first_91_s, 2), round(f.recovery_s, 2), f.lost, f.codes_during
    (0.2, 0.45, 1, {'91': 1, 'timeout': 1})
    """
    findings = tuple(_finding(f, outcomes, duplicates, timeout) for f in schedule.faults)
    codes = Counter(o.code or o.failure for o in outcomes)
    return DrillReport(schedule, findings, len(outcomes), dict(sorted(codes.items())),
                       sum(1 for o in outcomes if o.code is None), len(duplicates),
                       tuple(events))


def _seconds(value: float | None) -> str:
    return "none" if value is None else f"{value:.3f} s"


def format_drill(report: DrillReport) -> str:
    """The report as a person reads it."""
    s = report.schedule
    lines = [f"drill: {len(s.faults)} fault(s) from {s.source} with seed {s.seed}, "
             f"{s.duration:g} s",
             f"inquiries: {report.sent} sent; "
             + ", ".join(f"{code} x{n}" for code, n in report.codes.items())
             + f"; {report.lost} lost, {report.duplicated} duplicated answers"]
    for f in report.findings:
        lines += [
            f"fault {f.fault.number} ({f.fault.name}): {f.fault.describe()}",
            f"  first 91 after it began: {_seconds(f.first_91_s)}"
            + (f"; first non-00: {f.first_failure} after {_seconds(f.first_failure_s)}"
               if f.first_failure is not None else "; every answer was 00"),
            f"  recovery (first 00 sent after it ended): {_seconds(f.recovery_s)}",
            f"  sent while it lasted: {f.sent_during} ("
            + (", ".join(f"{c} x{n}" for c, n in f.codes_during.items()) or "none")
            + f"), slowest answer {_seconds(f.slowest_s)}; lost {f.lost}; "
            f"duplicated {f.duplicated}"]
    return "\n".join(lines)


def drill_json(report: DrillReport) -> dict[str, Any]:
    """The report as JSON (``atmsim drill --json``)."""
    s = report.schedule
    return {
        "source": s.source, "seed": s.seed, "duration_s": s.duration,
        "sent": report.sent, "codes": report.codes, "lost": report.lost,
        "duplicated": report.duplicated, "events": list(report.events),
        "faults": [{
            "fault": f.fault.number, "name": f.fault.name,
            ("part" if f.fault.on_part else "hop"): f.fault.target, "kind": f.fault.kind,
            "start_s": f.fault.start, "end_s": f.fault.end, "first_91_s": f.first_91_s,
            "first_failure": f.first_failure, "first_failure_s": f.first_failure_s,
            "recovery_s": f.recovery_s, "sent_during": f.sent_during,
            "codes_during": f.codes_during, "slowest_s": f.slowest_s, "lost": f.lost,
            "duplicated": f.duplicated,
        } for f in report.findings],
    }
