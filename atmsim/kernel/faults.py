"""Fault schedules: which hop or part fails when, for how long, drawn from a seed.

A faults file (YAML, docs/faults.md) lists faults; a time may be fixed or drawn between two
bounds, and the seed decides every draw, so the same file and seed give the same schedule
and the same event log on every run::

    duration: 8
    faults:
      - {hop: switch-hsm, kind: partition, at: 2, for: 1.5}
      - {hop: atm-switch, kind: delay, at: {between: [1, 3]}, for: 1, delay: 0.2, jitter: 0.1}
      - {hop: broker-ledger, kind: drop, at: 4, for: 1, probability: 0.5}
      - {part: ledger, kind: kill, at: 5, for: 1}

Hops: ``atm-switch``, ``switch-hsm``, ``switch-broker``, ``broker-ledger`` (a fault proxy
sits on each) and ``ledger-database`` (a hook in the ledger's database layer). Kinds on a
hop: ``delay`` (each message held ``delay`` seconds, plus up to ``jitter``), ``drop`` (each
message lost with ``probability``, default 1; connections stay open) and ``partition``
(open connections cut, new ones refused). ``kill`` stops a part (``hsm``, ``ledger`` or
``broker``) and starts it again after ``for`` seconds. Pure: parsing and drawing only; the
drill (``atmsim drill``) carries a schedule out.
"""

from __future__ import annotations

import json
import random
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from atmsim.kernel.rules import load_user_yaml, read_user_file

__all__ = ["HOPS", "PARTS", "Fault", "FaultError", "Schedule", "load_schedule",
           "parse_schedule"]

HOPS = ("atm-switch", "switch-hsm", "switch-broker", "broker-ledger", "ledger-database")
PARTS = ("hsm", "ledger", "broker")
_HOP_KINDS = ("delay", "drop", "partition")
# No TCP to hold up between the ledger and SQLite: a query fails or it does not.
_DATABASE_KINDS = ("drop", "partition")
_KEYS = {"hop", "part", "kind", "at", "for", "delay", "jitter", "probability", "name"}


class FaultError(ValueError):
    """A faults file that cannot be used; the message says which fault and why."""


@dataclass(frozen=True)
class Fault:
    """One scheduled fault, its times drawn: from ``start`` to ``end`` seconds after the
    drill's clock starts. ``target`` is the hop or the part; ``seed`` seeds the fault's own
    per-message draws (drop, jitter)."""

    number: int
    name: str
    target: str
    kind: str
    start: float
    end: float
    delay: float = 0.0
    jitter: float = 0.0
    probability: float = 1.0
    seed: int = 0

    @property
    def on_part(self) -> bool:
        return self.kind == "kill"

    def describe(self) -> str:
        """One line for a report.

        >>> Fault(1, "f", "switch-hsm", "delay", 1.0, 2.5, delay=0.2).describe()
        'delay 200 ms on switch-hsm from 1.00 s to 2.50 s'
        """
        what = {"delay": f"delay {self.delay * 1000:.0f} ms"
                         + (f" (+ up to {self.jitter * 1000:.0f} ms)" if self.jitter else ""),
                "drop": f"drop {self.probability:.0%} of messages",
                "partition": "partition", "kill": "kill"}[self.kind]
        where = f"the {self.target}" if self.on_part else self.target
        return f"{what} on {where} from {self.start:.2f} s to {self.end:.2f} s"

    def event(self, at: float, what: str) -> dict[str, Any]:
        entry: dict[str, Any] = {"at": round(at, 3), "event": what, "fault": self.number,
                                 "name": self.name, ("part" if self.on_part else "hop"):
                                 self.target, "kind": self.kind}
        if self.kind == "delay":
            entry.update(delay=self.delay, jitter=self.jitter)
        if self.kind == "drop":
            entry["probability"] = self.probability
        return entry


@dataclass(frozen=True)
class Schedule:
    """The faults of one file drawn with one seed, in start order, and how long the drill
    runs (``duration``; at least until the last fault has ended)."""

    faults: tuple[Fault, ...]
    duration: float
    seed: int
    source: str = ""

    def events(self) -> list[dict[str, Any]]:
        """Every start and end, in time order (start before end at the same time): the
        event log a drill writes, the same for the same file and seed.

        >>> s = parse_schedule("faults: [{part: hsm, kind: kill, at: 1, for: 0.5}]", 7)
        >>> [(e["at"], e["event"]) for e in s.events()]
        [(1.0, 'killed'), (1.5, 'restarted')]
        """
        entries: list[tuple[float, int, int, dict[str, Any]]] = []
        for fault in self.faults:
            begin, finish = ("killed", "restarted") if fault.on_part else ("starts", "ends")
            entries.append((fault.start, 0, fault.number, fault.event(fault.start, begin)))
            entries.append((fault.end, 1, fault.number, fault.event(fault.end, finish)))
        return [entry for *_, entry in sorted(entries, key=lambda e: e[:3])]

    def event_log(self) -> str:
        """The events as JSON lines."""
        return "".join(json.dumps(e, sort_keys=True) + "\n" for e in self.events())


def _seconds(value: Any, rng: random.Random, where: str, what: str) -> float:
    if isinstance(value, dict):
        bounds = value.get("between")
        if (set(value) != {"between"} or not isinstance(bounds, list) or len(bounds) != 2
                or not all(isinstance(b, int | float) and not isinstance(b, bool)
                           for b in bounds)):
            raise FaultError(f"{where}: {what} is seconds or {{between: [low, high]}}")
        low, high = float(bounds[0]), float(bounds[1])
        if not 0 <= low <= high:
            raise FaultError(f"{where}: {what} between needs 0 <= low <= high")
        return round(rng.uniform(low, high), 3)
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise FaultError(f"{where}: {what} is seconds (0 or more) or {{between: [low, high]}}")
    return float(value)


def _number(entry: Mapping[str, Any], key: str, default: float, where: str,
            high: float | None = None) -> float:
    value = entry.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0 or (
            high is not None and value > high):
        limit = f" and at most {high:g}" if high is not None else ""
        raise FaultError(f"{where}: {key} is a number, 0 or more{limit}")
    return float(value)


def _fault(number: int, entry: Any, rng: random.Random, source: str) -> Fault:
    where = f"{source}: fault {number}"
    if not isinstance(entry, dict):
        raise FaultError(f"{where}: a fault is a mapping (hop or part, kind, at, for)")
    unknown = set(entry) - _KEYS
    if unknown:
        raise FaultError(f"{where}: unknown key {sorted(unknown)[0]!r}")
    kind = entry.get("kind")
    if "part" in entry:
        target = entry["part"]
        if target not in PARTS:
            raise FaultError(f"{where}: part must be one of {', '.join(PARTS)}")
        if kind != "kill":
            raise FaultError(f"{where}: a part can only be killed (kind: kill)")
    else:
        target = entry.get("hop")
        if target not in HOPS:
            raise FaultError(f"{where}: hop must be one of {', '.join(HOPS)} "
                             "(or part: hsm|ledger|broker)")
        kinds = _DATABASE_KINDS if target == "ledger-database" else _HOP_KINDS
        if kind not in kinds:
            raise FaultError(f"{where}: kind on {target} must be one of {', '.join(kinds)}")
    if "at" not in entry or "for" not in entry:
        raise FaultError(f"{where}: needs at (seconds from the start) and for (seconds)")
    start = _seconds(entry["at"], rng, where, "at")
    length = _seconds(entry["for"], rng, where, "for")
    return Fault(number, str(entry.get("name", f"fault {number}")), str(target), str(kind),
                 start, round(start + length, 3),
                 delay=_number(entry, "delay", 0.0, where),
                 jitter=_number(entry, "jitter", 0.0, where),
                 probability=_number(entry, "probability", 1.0, where, high=1.0),
                 seed=rng.randrange(2**32))


def parse_schedule(text: str | Mapping[str, Any], seed: int,
                   source: str = "<faults>") -> Schedule:
    """The schedule ``text`` (YAML, or the mapping it would load as: a test's schedule
    written in Python) describes, every draw made from ``seed``; ``FaultError`` says which
    fault is wrong and why.

    >>> parse_schedule({"faults": [{"hop": "switch-hsm", "kind": "partition", "at": 0,
    ...                             "for": 1}]}, 0).faults[0].describe()
    'partition on switch-hsm from 0.00 s to 1.00 s'
    """
    document = load_user_yaml(text, source, FaultError)
    if not isinstance(document, dict) or not isinstance(document.get("faults"), list):
        raise FaultError(f"{source}: expected faults: [...] (and optionally duration: S)")
    rng = random.Random(seed)
    faults = [_fault(n, entry, rng, source) for n, entry in enumerate(document["faults"], 1)]
    last_end = max((f.end for f in faults), default=0.0)
    duration = document.get("duration", last_end + 2.0)
    if isinstance(duration, bool) or not isinstance(duration, int | float) or duration <= 0:
        raise FaultError(f"{source}: duration is seconds above 0")
    ordered = tuple(sorted(faults, key=lambda f: (f.start, f.number)))
    return Schedule(ordered, max(float(duration), last_end), seed, source)


def load_schedule(path: str | Path, seed: int) -> Schedule:
    """The schedule of the file at ``path``; ``FaultError`` when it cannot be read or used."""
    return parse_schedule(read_user_file(path, "faults file", FaultError), seed, str(path))
