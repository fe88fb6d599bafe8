"""``atmsim load``: virtual ATMs that put a switch under load and measure it.

The parts follow the run: ``cards`` (who the cardholders are), ``mix`` (what each inquiry
asks, and the guard that keeps wrong PINs from blocking cards), ``runner`` (the virtual
ATMs, open or closed loop), ``stats`` (HDR histogram and the report), ``progress`` (the
live line), ``plot`` (the picture) and ``command`` (the command line).
"""

from atmsim.shell.load.command import add_parser, main, run

__all__ = ["add_parser", "run", "main"]
