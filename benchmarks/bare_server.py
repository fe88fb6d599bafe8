"""(b) The floor: a bare asyncio server with the switch's framing that answers every 0200
with a fixed 0210 of the real size, doing no other work.

It reads frames exactly as the switch does (``read_frame``: 2-byte big-endian length),
copies fields 11 and 41 into a prebuilt approved 0210 (the ATM matches replies by them)
and writes it back. Measured with ``atmsim load`` like the full stack, the gap between
the two is what the switch, the HSM, the ledger and the broker cost.

    python benchmarks/bare_server.py --port 9583 [--loop uvloop]   # serve until killed
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import socket
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from atmsim.kernel.wire import Framing, WireProfile, default_profile, read_frame
from benchmarks.codec_cost import inquiry_messages

__all__ = ["FixedAnswer", "serve", "main"]


class FixedAnswer:
    """The prebuilt 0210, and where in it fields 11 and 41 go."""

    def __init__(self, profile: WireProfile) -> None:
        _, response = inquiry_messages()
        # Where 11 and 41 are: where two encodings that differ only in them differ. (Not
        # by searching for a marker: field 7 is the time, and a marker "999999" was found
        # one place early whenever it ended in 9, one start in ten, and then no answer
        # matched its request.)
        one = profile.encode({**response, "11": "000000", "41": "AAAAAAAA"})
        two = profile.encode({**response, "11": "111111", "41": "BBBBBBBB"})
        differ = [i for i, (a, b) in enumerate(zip(one, two, strict=True)) if a != b]
        assert len(differ) == 14 and differ[6] - differ[0] >= 6, differ
        self.template = bytearray(one)
        self.stan_at, self.terminal_at = differ[0], differ[6]

    def answer(self, request: bytes) -> bytes | None:
        """The 0210 for a 0200 laid out as the ATM side sends it, or None."""
        fields = _stan_and_terminal(request)
        if fields is None:
            return None
        stan, terminal = fields
        reply = bytearray(self.template)
        reply[self.stan_at:self.stan_at + 6] = stan
        reply[self.terminal_at:self.terminal_at + 8] = terminal
        return bytes(reply)


def _stan_and_terminal(raw: bytes) -> tuple[bytes, bytes] | None:
    """Fields 11 and 41 of the ATM side's 0200 by position (no full decode: that is (a))."""
    if raw[:4] != b"0200":
        return None
    at = 36 if raw[4:5] in b"89ABCDEF" else 20
    pan_len = int(raw[at:at + 2])
    at += 2 + pan_len + 6 + 12 + 10  # 2, 3, 4, 7
    stan = raw[at:at + 6]
    at += 6 + 6 + 4 + 4 + 4 + 3 + 2  # 11, 12, 13, 14, 18, 22, 25
    at += 2 + int(raw[at:at + 2])  # 32
    at += 2 + int(raw[at:at + 2])  # 35
    at += 12  # 37
    return stan, raw[at:at + 8]


async def serve(port: int) -> None:
    profile, framing = default_profile(), Framing()
    fixed = FixedAnswer(profile)
    echo_signed_on = profile.encode

    async def connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        sock = writer.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            while (raw := await read_frame(reader, framing)) is not None:
                reply = fixed.answer(raw)
                if reply is None:  # the sign-on (0800): answered properly, once per ATM
                    request = profile.decode(raw)
                    reply = echo_signed_on({"t": "0810", **{k: request[k] for k in
                                                           ("7", "11", "41", "70")},
                                            "39": "00"})
                writer.write(framing.frame(reply))
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(connection, "127.0.0.1", port, reuse_address=True)
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        asyncio.get_running_loop().add_signal_handler(sig, stop.set)
    async with server:
        print(f"bare server on 127.0.0.1:{port}", flush=True)
        await stop.wait()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--loop", choices=["uvloop", "asyncio"], default="asyncio")
    args = parser.parse_args(argv)
    if args.loop == "uvloop":
        import uvloop

        uvloop.run(serve(args.port))
    else:
        asyncio.run(serve(args.port))
    return 0


if __name__ == "__main__":
    sys.exit(main())
