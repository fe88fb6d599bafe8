"""Running a command until it is stopped: signals, start-up logs, the stack's lifetime.

``atmsim up`` and ``atmsim demo`` (and the parts run alone: ``serve``) stop in order on the first
SIGINT, SIGTERM or SIGHUP (a part serving by ``--rules`` reloads them on SIGHUP instead),
also during start-up; a second signal, or an orderly stop that
has not ended the process within ``FORCE_EXIT_AFTER`` seconds, ends it at once after
killing the child processes (the broker's; with the supervisor, every part's). While
the stack starts, the log lines meant for the terminal are held back: shown once it is
up, dropped when it fails, so that a failed start is the one line of its error.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
import threading
from collections.abc import AsyncIterator, Callable, Collection, Coroutine, Iterator
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from atmsim.shell.config import Settings
from atmsim.shell.errors import Interrupted

if TYPE_CHECKING:
    from atmsim.shell.stack import Stack
    from atmsim.shell.supervisor import Supervisor

__all__ = ["FORCE_EXIT_AFTER", "Interrupted", "StopSignals", "held_logs", "running_backend",
           "running_stack", "serve", "until_stopped"]

log = logging.getLogger("atmsim.lifecycle")

# Seconds from the first Ctrl-C to a forced exit if the orderly stop has not ended.
FORCE_EXIT_AFTER = 2.5


B = TypeVar("B", bound="_Backend")


class StopSignals:
    """SIGINT, SIGTERM and SIGHUP for a command that runs until stopped.

    The first signal sets ``stop`` (an orderly stop) and arms a timer: if the process has
    not ended ``FORCE_EXIT_AFTER`` seconds later, or a second signal comes, ``on_force``
    runs (it kills child processes) and the process exits at once with status 130.
    With ``on_hangup`` set (a part serving by rules), SIGHUP calls it instead: the
    daemon convention of "read your files again".
    """

    def __init__(self, stop: asyncio.Event | None = None) -> None:
        self.stop = stop or asyncio.Event()
        self.on_force: list[Callable[[], None]] = []
        self.on_hangup: Callable[[], None] | None = None
        self._timer: threading.Timer | None = None

    def install(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, self._signalled)
        loop.add_signal_handler(signal.SIGHUP, self._hangup)

    def _hangup(self) -> None:
        if self.on_hangup is not None and not self.stop.is_set():
            self.on_hangup()
        else:
            self._signalled()

    def _signalled(self) -> None:
        if self.stop.is_set():
            self._force("stopped at once (second signal)")
            return
        self.stop.set()
        self._timer = threading.Timer(FORCE_EXIT_AFTER, self._force,
                                      args=(f"not stopped within {FORCE_EXIT_AFTER:g}s; "
                                            "stopped at once",))
        self._timer.daemon = True
        self._timer.start()

    def _force(self, why: str) -> None:
        for kill in self.on_force:
            with contextlib.suppress(Exception):
                kill()
        with contextlib.suppress(OSError):
            os.write(2, f"atmsim: {why}\n".encode())
        os._exit(130)


class _HeldRecords(logging.Handler):
    def __init__(self, limit: int = 10_000) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []
        self.limit = limit

    def emit(self, record: logging.LogRecord) -> None:
        if len(self.records) < self.limit:
            self.records.append(record)


@contextlib.contextmanager
def held_logs() -> Iterator[None]:
    """Hold the log lines meant for the terminal during start-up: shown once the stack is
    up, dropped when it fails (unless at DEBUG), so that a failed start is the one line
    of its error. A log file gets every record as usual."""
    root = logging.getLogger()
    terminal = [h for h in root.handlers
                if type(h) is logging.StreamHandler]  # not FileHandler, a subclass
    if not terminal:
        yield
        return
    held = _HeldRecords()
    for handler in terminal:
        root.removeHandler(handler)
    root.addHandler(held)
    ok = False
    try:
        yield
        ok = True
    finally:
        root.removeHandler(held)
        for handler in terminal:
            root.addHandler(handler)
        if ok or root.getEffectiveLevel() <= logging.DEBUG:
            for record in held.records:
                for handler in terminal:
                    if record.levelno >= handler.level:
                        handler.handle(record)


class _Backend(Protocol):
    """What runs the back end: ``Stack`` (one process) or ``Supervisor`` (a process a part)."""

    async def start(self) -> None: ...
    async def close(self) -> None: ...
    def kill_children(self) -> None: ...


async def _start_unless_stopped(stack: _Backend, stop: asyncio.Event) -> bool:
    """Start ``stack``; False (start-up abandoned) if ``stop`` is set first."""
    starting = asyncio.ensure_future(stack.start())
    stopped = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait([starting, stopped], return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopped.cancel()
    if starting.done():
        starting.result()  # a StackError goes up from here
        return True
    while not starting.done():  # cancelled until it has ended: see bus._cancel_and_wait
        starting.cancel()
        await asyncio.wait([starting], timeout=0.1)
    if not starting.cancelled() and starting.exception() is not None:
        log.debug("start-up interrupted: %s", starting.exception())
    return False


@contextlib.asynccontextmanager
async def _running(backend: B, signals: StopSignals | None) -> AsyncIterator[B]:
    if signals is None:
        signals = StopSignals()
        signals.install()
    signals.on_force.append(backend.kill_children)
    try:
        with held_logs():
            try:
                started = await _start_unless_stopped(backend, signals.stop)
            except BaseException:
                await backend.close()  # its log lines are held too: the error is the one line
                raise
            if not started:
                await backend.close()
                raise Interrupted
        yield backend
    finally:
        await backend.close()  # a no-op when already closed


def running_stack(settings: Settings, signals: StopSignals | None = None,
                  parts: Collection[str] | None = None
                  ) -> contextlib.AbstractAsyncContextManager[Stack]:
    """The stack (of ``parts``, default all) started, its start-up logs held back until it
    is up, and closed again; a signal during start-up raises ``Interrupted`` after closing
    what had started. ``signals`` is installed on this loop unless it is None (then a
    fresh one is)."""
    from atmsim.shell.stack import PARTS, Stack

    return _running(Stack(settings, PARTS if parts is None else parts), signals)


def run_loop(coroutine: Coroutine[Any, Any, int], full_screen: bool = False) -> int:
    """Run a command's coroutine: on uvloop for the back-end commands when it is installed
    (about 10-15% less CPU per inquiry, BENCHMARKS.md); on asyncio's own loop for the
    full-screen ATM, as Textual expects."""
    if not full_screen:
        try:
            import uvloop
        except ImportError:
            pass
        else:
            return uvloop.run(coroutine)
    return asyncio.run(coroutine)


def running_backend(settings: Settings, signals: StopSignals, *, single_process: bool,
                    report: Callable[[str], None] | None = None
                    ) -> contextlib.AbstractAsyncContextManager[Stack | Supervisor]:
    """The whole back end as ``running_stack`` runs it: each part its own supervised
    process (``atmsim.shell.supervisor``; ``report`` gets its lines about parts that die
    and come back), or all in this one (``single_process``)."""
    if single_process:
        return running_stack(settings, signals)
    from atmsim.shell.supervisor import Supervisor, report_line

    return _running(Supervisor(settings, report or report_line, signals.stop), signals)


async def serve(settings: Settings, parts: Collection[str], announce: Callable[[Any], None],
                farewell: str | None = None, *, supervised: bool = False) -> int:
    """Run ``parts`` of the stack until the first signal: ``announce(stack)`` once they are
    up (what a user or a script waits for), ``farewell`` printed when the stop begins.
    ``supervised``: the whole back end, each part its own process (``running_backend``);
    exit status 1 if a part kept dying and was given up on."""
    signals = StopSignals()
    signals.install()
    backend = (running_backend(settings, signals, single_process=False) if supervised
               else running_stack(settings, signals, parts))
    async with backend as stack:
        if stack.rules:
            signals.on_hangup = stack.reload_rules
        announce(stack)
        sys.stdout.flush()
        await signals.stop.wait()
        if farewell is not None:
            print(farewell)
            sys.stdout.flush()
    return 1 if getattr(stack, "gave_up", None) else 0


async def until_stopped(work: Coroutine[Any, Any, int], stop: asyncio.Event) -> int:
    """Run ``work`` to its end, or until ``stop`` (then 130)."""
    task = asyncio.ensure_future(work)
    stopped = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait([task, stopped], return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopped.cancel()
    if task.done():
        return task.result()
    task.cancel()
    await asyncio.wait([task], timeout=1)
    return 130
