"""Run one ``atmsim`` command with a chosen event loop: ``launch.py [--loop uvloop] -- ARGS``.

The benchmark starts every part of the stack (``atmsim broker``/``hsm``/``ledger``/
``switch``) as its own process through this wrapper, so the same command runs once on
asyncio's own loop and once on uvloop and the two can be compared.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

__all__ = ["main"]


def main(argv: list[str]) -> int:
    loop = "asyncio"
    if argv[:1] == ["--loop"]:
        loop, argv = argv[1], argv[2:]
    if argv[:1] == ["--"]:
        argv = argv[1:]
    if loop == "uvloop":
        import uvloop

        # asyncio.run() in atmsim.shell.cli picks the loop from the policy (Python 3.11).
        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    if argv[:1] == ["load"]:
        from atmsim.shell.load import main as load_main

        return load_main(argv[1:])
    from atmsim.shell.cli import main as atmsim_main

    return atmsim_main(argv)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
