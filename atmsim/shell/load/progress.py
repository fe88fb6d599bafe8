"""The live progress line of ``atmsim load`` (rich), shown only on a terminal.

It renders on stderr so that stdout carries only the final report, which scripts may read.
"""

from __future__ import annotations

from types import TracebackType
from typing import IO

from rich.console import Console
from rich.live import Live
from rich.table import Table

from atmsim.shell.load.runner import Progress

__all__ = ["LiveProgress", "progress_table"]


def progress_table(progress: Progress, planned_s: float | None) -> Table:
    """One row of figures: sent, answered, current rate, p50/p99 so far, errors."""
    table = Table(box=None, pad_edge=False, show_edge=False)
    for column in ("elapsed", "sent", "answered", "rate/s", "p50 ms", "p99 ms", "timeouts",
                   "errors"):
        table.add_column(column, justify="right")
    elapsed = f"{progress.elapsed_s:5.1f}s" + (f" / {planned_s:g}s" if planned_s else "")
    table.add_row(elapsed, str(progress.sent), str(progress.answered), str(progress.rate),
                  f"{progress.p50_ms:.2f}", f"{progress.p99_ms:.2f}", str(progress.timeouts),
                  str(progress.errors))
    return table


class LiveProgress:
    """``with LiveProgress(stream, planned_s) as live: live.update(progress)``."""

    def __init__(self, stream: IO[str], planned_s: float | None) -> None:
        self._console = Console(file=stream)
        self._planned_s = planned_s
        # No refresh thread: it would take the GIL from the event loop at moments of its
        # own choosing (measured: stalls of 100+ ms). The run calls update() 4 times a
        # second from the loop instead.
        self._live = Live(console=self._console, auto_refresh=False, transient=False)

    @property
    def enabled(self) -> bool:
        return self._console.is_terminal

    def update(self, progress: Progress) -> None:
        if self.enabled:
            self._live.update(progress_table(progress, self._planned_s), refresh=True)

    def __enter__(self) -> LiveProgress:
        if self.enabled:
            self._live.start()
            # The first render is the slow one (terminal set-up): before the clock starts.
            self.update(Progress(0.0, 0, 0, 0, 0.0, 0.0, 0, 0))
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self.enabled:
            self._live.stop()
