"""A load run: N virtual ATMs against one switch, open loop at a rate or closed loop.

Each virtual ATM is an ``AtmClient`` (``atmsim.AtmClient``, the ATM's own client): its own
TCP (or TLS) connection, terminal ID (BNI00002 onwards) and STAN sequence. All of them
sign on (0800/001) before the clock starts, then send real 0200 balance inquiries with
real PIN blocks as ``InquiryPlanner`` chooses them.

- Open loop (``rate``): inquiries leave on a fixed schedule whatever the switch does, in
  turn over the ATMs; an ATM may have several in flight (the switch matches by 41 + 11).
  Latency is measured from the *scheduled* send time, so a stalled switch (or a saturated
  generator) shows up in the figures instead of silently slowing the schedule down.
- Closed loop (``concurrency``): that many inquiries in flight at all times, each sent
  as soon as the one before it on its worker is answered.

The run talks only to the one address it is given and stops by itself: at ``duration``
seconds or after ``count`` inquiries, whichever comes first; then it waits at most
``timeout`` for the answers still due. Afterwards every card that this run gave a wrong
PIN gets one inquiry with its right PIN, so no card is left one wrong PIN from blocking.

An inquiry that times out is reversed as an ATM reverses it: its 0420 goes into the
store-and-forward queue (``saf_file``, ``terminal_ui.device.store_and_forward``) and is
sent at once, retried with backoff (0421) until a 0430; what is still owed when the run
ends stays queued and is sent first by the next run of those terminals.
"""

from __future__ import annotations

import asyncio
import itertools
import ssl
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from atmsim.kernel.masking import mask_pan
from atmsim.kernel.wire import Framing, IsoMessage, WireProfile, default_profile
from atmsim.shell.errors import UserError
from atmsim.shell.load.cards import LoadCard
from atmsim.shell.load.mix import InquiryPlanner, MixSettings, PlannedInquiry
from atmsim.shell.load.segment import WHOLE, Segment
from atmsim.shell.load.stats import LoadReport, LoadStats
from terminal_ui.device.client import AtmClient, HostTimeout, HostUnavailable, SignOnRefused
from terminal_ui.device.host_link import HostLost, StanSequence
from terminal_ui.device.pinpad import PinPad
from terminal_ui.device.store_and_forward import SafQueue, forward_reversals
from terminal_ui.device.transactions import (
    CardData,
    approval_problem,
    balance_inquiry_request,
    reversal_request,
)

__all__ = ["LoadSettings", "LoadError", "Outcome", "Progress", "run_load", "terminal_id"]

_CONNECT_AT_ONCE = 32  # connections opened in parallel while the ATMs start
_YIELD_EVERY = 64  # an open loop catching up still lets answers be read
_LAST_TERMINAL = 999  # docs/demo-data.md: terminals BNI00001-BNI00999


class LoadError(UserError):
    """The run could not start (switch unreachable, terminal refused); one line, exit 2."""


def terminal_id(number: int) -> str:
    """The terminal ID (docs/demo-data.md) for a number.

    >>> terminal_id(2)
    'BNI00002'
    """
    return f"BNI{number:05d}"


@dataclass(frozen=True)
class LoadSettings:
    host: str
    port: int
    cards: Sequence[LoadCard]
    tpk_hex: str  # the ATMs' PIN pad key (test key)
    atms: int = 1
    rate: float | None = None  # inquiries per second: open loop
    concurrency: int | None = None  # inquiries in flight: closed loop
    duration: float | None = 10.0
    count: int | None = None
    timeout: float = 5.0  # seconds an ATM waits for one answer
    first_terminal: int = 2  # BNI00001 is the demo ATM
    mix: MixSettings = field(default_factory=MixSettings)
    seed: int | None = None
    saf_file: Path | None = None  # None: unanswered inquiries are not reversed
    # The wire profile and framing of the switch's ATM link (docs/profiles.md).
    profile: WireProfile = field(default_factory=default_profile)
    framing: Framing = field(default_factory=Framing)
    tls: ssl.SSLContext | None = None  # TLS to the switch ([atm] tls_*), None: plain TCP
    tls_server_name: str | None = None  # the name its certificate must carry (None: host)
    # The part of a run split over processes this one is (``--segment``): its ATMs number
    # in the segment's STAN range and it sends wrong PINs only to the cards it owns. The
    # other fields are this segment's own share already (``atmsim.shell.load.segment``).
    segment: Segment = WHOLE

    def __post_init__(self) -> None:
        if (self.rate is None) == (self.concurrency is None):
            raise ValueError("give either a rate (open loop) or a concurrency (closed loop)")
        if self.rate is not None and not self.rate > 0:
            raise ValueError("the rate must be above 0")
        if self.concurrency is not None and self.concurrency < 1:
            raise ValueError("the concurrency must be at least 1")
        if self.duration is None and self.count is None:
            raise ValueError("give a duration or a count: the run must stop by itself")
        if self.duration is not None and not self.duration > 0:
            raise ValueError("the duration must be above 0")
        if self.count is not None and self.count < 1:
            raise ValueError("the count must be at least 1")
        if self.atms < 1:
            raise ValueError("at least 1 virtual ATM")
        last = self.first_terminal + self.atms - 1
        if self.first_terminal < 1 or last > _LAST_TERMINAL:
            raise ValueError(f"{self.atms} ATMs from {terminal_id(self.first_terminal)} run past "
                             f"{terminal_id(_LAST_TERMINAL)}, the last terminal the switch knows")
        if not self.timeout > 0:
            raise ValueError("the timeout must be above 0")

    @property
    def mode(self) -> str:
        if self.rate is not None:
            mode = f"open loop at {self.rate:g}/s"
        else:
            mode = f"closed loop, {self.concurrency} in flight"
        return mode if self.segment.whole else f"{mode}, segment {self.segment}"


@dataclass(frozen=True)
class Progress:
    """A snapshot for the live display."""

    elapsed_s: float
    sent: int
    answered: int
    rate: int  # answers in the last complete second
    p50_ms: float
    p99_ms: float
    timeouts: int
    errors: int


ProgressCallback = Callable[[Progress], None]


@dataclass(frozen=True, slots=True)
class Outcome:
    """One inquiry of the run, for a watcher (``atmsim drill``): sent and settled, in
    seconds on the run's clock; ``code`` is field 39, None when no answer came
    (``failure``: ``timeout`` or ``connection lost``)."""

    sent: float
    at: float
    code: str | None
    failure: str = ""


OutcomeCallback = Callable[[Outcome], None]


class _Run:
    def __init__(self, settings: LoadSettings, on_progress: ProgressCallback | None,
                 on_start: Callable[[], None] | None = None,
                 on_outcome: OutcomeCallback | None = None) -> None:
        self.s = settings
        self.on_progress = on_progress
        self.on_start = on_start
        self.on_outcome = on_outcome
        segment = settings.segment
        self.planner = InquiryPlanner(settings.cards, settings.mix, PinPad(settings.tpk_hex),
                                      settings.seed, wrong_pin_cards=None if segment.whole
                                      else segment.owns_card)
        self.cards = [CardData(c.pan, c.expiry, c.track2) for c in settings.cards]
        self.stats = LoadStats(settings.seed)
        self.links: list[AtmClient] = []
        self.in_flight: set[asyncio.Task[str | None]] = set()
        self.started = 0.0
        self.lag_max = 0.0  # how far the open loop fell behind its schedule
        self.lost_links: set[str] = set()
        self.settled = 0
        self.cpu_s = 0.0  # the generator's own CPU time while the clock ran
        # Opened when there is something to read or to write: a run without a timeout
        # leaves nothing in the data directory.
        file = settings.saf_file
        self.saf = SafQueue(file) if file is not None and file.exists() else None
        self.forwarding: set[asyncio.Task[int]] = set()
        self.reversals_queued = 0
        self.reversals_answered = 0

    # -- lifetime -------------------------------------------------------------------

    async def start_atms(self) -> None:
        gate = asyncio.Semaphore(_CONNECT_AT_ONCE)
        numbers = range(self.s.first_terminal, self.s.first_terminal + self.s.atms)
        self.links = [AtmClient(self.s.host, self.s.port, terminal_id=terminal_id(n),
                                timeout=self.s.timeout, connect_timeout=self.s.timeout,
                                tls=self.s.tls, server_hostname=self.s.tls_server_name,
                                profile=self.s.profile, framing=self.s.framing,
                                stans=StanSequence(*self.s.segment.stan_range()))
                      for n in numbers]
        # Every sign-on to its end, then the first failure: none is left unretrieved.
        outcomes = await asyncio.gather(*(self._sign_on(link, gate) for link in self.links),
                                        return_exceptions=True)
        failure = next((o for o in outcomes if isinstance(o, BaseException)), None)
        if failure is not None:
            raise failure

    async def _sign_on(self, link: AtmClient, gate: asyncio.Semaphore) -> None:
        async with gate:
            try:
                await link.connect()  # and signs on
            except SignOnRefused as exc:
                raise LoadError(f"the switch refused the sign-on of {link.terminal_id} "
                                f"(response code {exc.response_code})") from None
            except HostUnavailable as exc:
                raise LoadError(str(exc)) from None
            except HostTimeout:
                raise LoadError(f"the switch at {self.s.host}:{self.s.port} did not answer "
                                f"the sign-on of {link.terminal_id} within "
                                f"{self.s.timeout:g}s") from None

    async def close(self) -> None:
        for task in [*self.in_flight, *self.forwarding]:
            task.cancel()
        await asyncio.gather(*self.in_flight, *self.forwarding, return_exceptions=True)
        await asyncio.gather(*(link.close() for link in self.links), return_exceptions=True)
        if self.saf is not None:
            self.saf.close()

    # -- reversals ----------------------------------------------------------------------

    def _reverse(self, link: AtmClient, request: IsoMessage) -> None:
        """As an ATM does: the switch may have answered (and charged) an 0200 whose answer
        never came back, so it is reversed through the store-and-forward queue."""
        if self.s.saf_file is None:
            return
        if self.saf is None:
            self.saf = SafQueue(self.s.saf_file)
        self.saf.add(reversal_request(request, stan=link.next_stan()))
        self.reversals_queued += 1
        self.forward_soon(link)

    def forward_soon(self, link: AtmClient) -> None:
        if self.saf is None:
            return
        task = asyncio.create_task(self._forward(link))
        self.forwarding.add(task)
        task.add_done_callback(self.forwarding.discard)

    async def _forward(self, link: AtmClient, due_only: bool = True) -> int:
        assert self.saf is not None
        answered = await forward_reversals(link, self.saf, timeout=self.s.timeout,
                                           due_only=due_only)
        self.reversals_answered += answered
        return answered

    async def forward_owed(self, *, starting: bool) -> None:
        """Every ATM's owed reversals, each ATM's in order: before the clock starts all of
        them (an earlier run left them), after the run those due."""
        if self.saf is None:
            return
        if self.forwarding:
            await asyncio.wait(self.forwarding, timeout=self.s.timeout + 1)
        saf = self.saf
        await asyncio.gather(*(self._forward(link, due_only=not starting) for link in self.links
                               if link.connected and saf.pending(link.terminal_id)))

    # -- the run ----------------------------------------------------------------------

    def now(self) -> float:
        # perf_counter, not loop.time(): uvloop's clock ticks in whole milliseconds.
        return time.perf_counter() - self.started

    def _stop_due(self, sent: int, at: float) -> bool:
        s = self.s
        return (s.count is not None and sent >= s.count) or \
            (s.duration is not None and at >= s.duration)

    async def run(self) -> None:
        self.started = time.perf_counter()
        cpu_at_start = time.process_time()
        if self.on_start is not None:
            self.on_start()
        reporter = asyncio.create_task(self._report_progress())
        try:
            if self.s.rate is not None:
                await self._open_loop(self.s.rate)
            else:
                assert self.s.concurrency is not None
                await asyncio.gather(*(self._closed_worker(k)
                                       for k in range(self.s.concurrency)))
            if self.in_flight:
                await asyncio.wait(self.in_flight, timeout=self.s.timeout + 1)
        finally:
            reporter.cancel()
            self.stats.finish(self.now())
            self.cpu_s = time.process_time() - cpu_at_start
        self._emit_progress()

    async def _open_loop(self, rate: float) -> None:
        interval = 1.0 / rate
        atms = itertools.cycle(self.links)
        for sent in itertools.count():
            due = sent * interval
            if self._stop_due(sent, due):
                return
            late = self.now() - due
            if late < 0:
                await asyncio.sleep(-late)
            else:
                self.lag_max = max(self.lag_max, late)
                if sent % _YIELD_EVERY == 0:
                    await asyncio.sleep(0)
            task = asyncio.create_task(self._inquire(next(atms), self.planner.next(), due))
            self.in_flight.add(task)
            task.add_done_callback(self.in_flight.discard)

    async def _closed_worker(self, number: int) -> None:
        link = self.links[number % len(self.links)]
        while not self._stop_due(self.stats.sent, self.now()):
            if not link.connected:
                # An ATM whose connection is gone is out of service; retrying at once
                # would spin without ever giving the event loop back.
                self.lost_links.add(link.terminal_id)
                return
            await self._inquire(link, self.planner.next(), self.now())

    async def _inquire(self, link: AtmClient, plan: PlannedInquiry, due: float,
                       record: bool = True) -> str | None:
        request = balance_inquiry_request(self.cards[plan.card_index], plan.pin_block,
                                          terminal_id=link.terminal_id, stan=link.next_stan(),
                                          kpj=plan.kpj)
        if record:
            self.stats.sent += 1
        # From the scheduled time when the send is late (a stall counts), from the real
        # send when the loop woke early (uvloop's timers tick in whole milliseconds).
        start = min(due, self.now())
        code: str | None = None
        failure = ""
        try:
            response = await link.exchange(request, self.s.timeout)
        except HostTimeout:
            failure = "timeout"
            if record:
                self.stats.record_timeout(self.now())
            self._reverse(link, request)
        except HostUnavailable as exc:
            failure = "connection lost"
            self.lost_links.add(link.terminal_id)
            if record:
                self.stats.record_error(self.now())
            if isinstance(exc, HostLost):
                self._reverse(link, request)
        else:
            code = response.get("39", "")
            if record:
                at = self.now()
                # An approval without a valid balance (field 54) is the switch breaking
                # the wire profile: a protocol error, not a 00.
                problem = approval_problem(response) if code == "00" else None
                if problem is None:
                    self.stats.record(at, at - start, code)
                else:
                    self.stats.record_protocol_error(at, problem)
        self.planner.answered(plan, code)
        if record and self.on_outcome is not None:
            self.on_outcome(Outcome(start, self.now(), code, failure))
        return code

    async def settle_cards(self) -> None:
        """One right PIN for each card this run left with uncancelled wrong PINs."""
        link = next((lk for lk in self.links if lk.connected), None)
        if link is None:
            return
        for index in self.planner.cards_to_settle():
            await self._inquire(link, self.planner.right_pin(index), self.now(), record=False)
            self.settled += 1

    async def _report_progress(self) -> None:
        while True:
            await asyncio.sleep(0.25)
            self._emit_progress()

    def _emit_progress(self) -> None:
        if self.on_progress is None:
            return
        st = self.stats
        self.on_progress(Progress(self.now(), st.sent, st.answered, st.last_second_rate(),
                                  st.percentile_ms(50), st.percentile_ms(99), st.timeouts,
                                  st.errors + st.protocol_errors))

    def notes(self) -> list[str]:
        notes = []
        planner = self.planner
        if planner.owed_wrong_pins:
            notes.append(f"{planner.owed_wrong_pins} wrong PINs of the mix were not sent: no "
                         f"card could take one without risking its block (too few cards "
                         f"for the rate)")
        blocked = [mask_pan(planner.cards[i].pan) for i in planner.guard.blocked()]
        if blocked:
            notes.append(f"answered 75 (card blocked) for: {', '.join(blocked)}")
        if self.settled:
            notes.append(f"{self.settled} cards got one right PIN after the run to cancel "
                         f"its wrong PINs (not counted above)")
        if self.stats.protocol_errors:
            notes.append(f"{self.stats.protocol_errors} answers broke the wire profile and "
                         f"are not counted as answered (first: 00 but "
                         f"{self.stats.first_protocol_error})")
        if self.lost_links:
            notes.append(f"{len(self.lost_links)} ATMs lost their connection to the switch")
        if self.reversals_queued or self.reversals_answered:
            owed = self.saf.pending() if self.saf is not None else 0
            notes.append(f"{self.reversals_queued} unanswered inquiries reversed (0420); "
                         f"{self.reversals_answered} reversals answered by a 0430 in this run; "
                         f"{owed} still owed in the store-and-forward queue")
        if self.lag_max > 0.05:
            notes.append(f"the generator fell behind its schedule by up to "
                         f"{self.lag_max * 1000:.0f} ms (it is saturated; latencies include "
                         f"that delay)")
        return notes


async def run_load(settings: LoadSettings,
                   on_progress: ProgressCallback | None = None, *,
                   on_start: Callable[[], None] | None = None,
                   on_outcome: OutcomeCallback | None = None) -> LoadReport:
    """Run the load described by ``settings``; raises ``LoadError`` if it cannot start.
    ``on_start`` is called when the run's clock starts (the ATMs signed on), and
    ``on_outcome`` with each inquiry once it is answered or given up."""
    run = _Run(settings, on_progress, on_start, on_outcome)
    try:
        await run.start_atms()
        await run.forward_owed(starting=True)  # what an earlier run left owed goes first
        await run.run()
        elapsed = run.now()
        kinds = {str(k): n for k, n in run.planner.planned.items()}
        await run.settle_cards()
        await run.forward_owed(starting=False)
        notes = run.notes()
    finally:
        await run.close()
    return run.stats.report(
        target=f"{settings.host}:{settings.port}", mode=settings.mode, atms=settings.atms,
        elapsed_s=elapsed, kinds=kinds, notes=notes, generator_cpu_s=run.cpu_s)
