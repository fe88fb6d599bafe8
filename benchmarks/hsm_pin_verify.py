"""PIN verifications per second over TCP, the way the switch asks for them.

Starts ``hsm_mock.HsmServer`` in a child process (its own interpreter, so it has a
core of its own), then drives DA (IBM 3624 offset) verifications through
``atm_switch.hsm_link.HsmLink`` - one pipelined connection per link, many requests in
flight, exactly as the switch does - and prints verifications per second for
several timed runs, their median, and the CPU time each process used.

    python benchmarks/hsm_pin_verify.py                 # 1 link, 64 in flight, 5 x 3 s
    python benchmarks/hsm_pin_verify.py --links 2 --in-flight 128 --runs 7
    python benchmarks/hsm_pin_verify.py --profile       # cProfile of the server, top 25
    python benchmarks/hsm_pin_verify.py --rsa-flood 2   # the same with 2 connections
                                                        # flooding EI (RSA 2048) beside it
    python benchmarks/hsm_pin_verify.py --against /tmp/base   # A/B: runs alternate with
                                              # an HSM started from another checkout

The HSM runs on uvloop, as ``atmsim hsm`` does (``--server-loop asyncio``: asyncio's own).
With ``--against TREE`` every run is made twice, against this tree's HSM and against one
started from ``TREE`` (a checkout of another commit), and the median of the per-pair
ratios is printed with the CPU each HSM spent per verification: on a shared machine the
ratio within a pair moves far less than either figure.

With ``--rsa-flood N`` every run is made twice, alone and beside N connections each
keeping 8 EI (generate an RSA 2048 key pair) in flight, and the ratio of the two medians
is printed with the key pairs per second: what a flood of EI costs PIN verification.

Every reply is checked (right PIN -> 00, wrong PIN -> 01); a run with a wrong
answer or an error aborts the benchmark. Figures depend on the machine and on what
else runs on it: the load average is printed with the results.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import uvloop

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from atm_switch.hsm_link import HsmLink
from atmsim.kernel.crypto import tdes
from atmsim.kernel.crypto.pin_blocks import account_number_12, build_pin_block
from atmsim.kernel.demo_data import DEMO_CARDS, DEMO_KEYS
from atmsim.shell.provisioning import DEC_TABLE
from hsm_mock import VariantLmk
from hsm_mock.pin_verification import ibm3624_offset
from hsm_mock.server import RSA_WORKER_NICENESS

__all__ = ["main"]

# The demo keys (test only) and cards the switch is provisioned with.
TPK_CLEAR = bytes.fromhex(DEMO_KEYS["TPK"].clear_hex)
PVK_CLEAR = bytes.fromhex(DEMO_KEYS["PVK"].clear_hex)
CARDS = {card.pan: card.pin for card in DEMO_CARDS}

SERVER = """
import asyncio, cProfile, pstats, signal, sys
sys.path.insert(0, ".")
from hsm_mock import HsmServer

async def main(profile):
    import hsm_mock.server
    hsm_mock.server.RSA_WORKER_NICENESS = int(sys.argv[2])
    server = HsmServer(port=0)
    await server.start()
    print(server.port, flush=True)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    profiler = cProfile.Profile() if profile else None
    if profiler:
        profiler.enable()
    await stop.wait()
    if profiler:
        profiler.disable()
        pstats.Stats(profiler, stream=sys.stderr).sort_stats("tottime").print_stats(25)
    await server.close()

if sys.argv[3] == "uvloop":
    import uvloop
    uvloop.run(main(sys.argv[1] == "1"))
else:
    asyncio.run(main(sys.argv[1] == "1"))
"""


@dataclass(frozen=True)
class Verification:
    """One DA request as the switch builds it, and the answer it must get (02, not 00, for
    a right PIN: the demo PVK is double length, which a payShield flags as a warning)."""

    fields: dict[str, object]
    expected: str


def workload(n: int, seed: int = 1) -> list[Verification]:
    """``n`` verifications over the demo cards, nine right PINs in ten."""
    lmk = VariantLmk.test()
    tpk = lmk.encrypt_key(TPK_CLEAR, "002")
    pvk = lmk.encrypt_key(PVK_CLEAR, "002")
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        pan, pin = rng.choice(sorted(CARDS.items()))
        account = account_number_12(pan)
        validation = pan[:11] + "N"
        offset = ibm3624_offset(PVK_CLEAR, pin, validation, account, DEC_TABLE, 6)
        right = rng.random() < 0.9
        typed = pin if right else pin[:-1] + str((int(pin[-1]) + 1) % 10)
        block = tdes.encrypt_ecb(TPK_CLEAR, build_pin_block(typed, "01", account))
        fields: dict[str, object] = {
            "tpk_lmk": tpk,
            "pvk_lmk": pvk,
            "pin_block_hex": block.hex().upper(),
            "pin_block_format": "01",
            "account12": account,
            "check_length": 6,
            "dec_table": DEC_TABLE,
            "validation_data": validation,
            "offset": offset,
        }
        out.append(Verification(fields, "02" if right else "01"))
    return out


EI_FRAME = len(b"0000EI2204801").to_bytes(2, "big") + b"0000EI2204801"
EI_IN_FLIGHT = 8


async def rsa_flood(port: int, seconds: float) -> int:
    """One connection keeping ``EI_IN_FLIGHT`` EI 2048 in flight; key pairs received."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    deadline = time.perf_counter() + seconds
    writer.write(EI_FRAME * EI_IN_FLIGHT)
    pairs = 0
    try:
        while time.perf_counter() < deadline:
            reply = await reader.readexactly(int.from_bytes(await reader.readexactly(2), "big"))
            if reply[4:8] != b"EJ00":
                raise RuntimeError(f"EI answered {reply[4:8]!r}")
            pairs += 1
            writer.write(EI_FRAME)
    finally:
        writer.close()
    return pairs


async def one_run(
    port: int, work: list[Verification], links: int, in_flight: int, seconds: float,
    flood: int = 0,
) -> tuple[int, int]:
    """(verifications, RSA key pairs) completed in ``seconds`` with ``in_flight`` workers
    per link, beside ``flood`` connections flooding EI."""
    floods = [asyncio.create_task(rsa_flood(port, seconds)) for _ in range(flood)]
    clients = [HsmLink("127.0.0.1", port, deadline=10.0) for _ in range(links)]
    done = 0
    deadline = time.perf_counter() + seconds

    async def worker(link: HsmLink, start: int) -> None:
        nonlocal done
        i = start
        while time.perf_counter() < deadline:
            item = work[i % len(work)]
            i += 7
            error = await link.verify_pin_ibm3624(**item.fields)  # type: ignore[arg-type]
            if error != item.expected:
                raise RuntimeError(f"HSM answered {error}, expected {item.expected}")
            done += 1

    try:
        await asyncio.gather(
            *(worker(link, n) for link in clients for n in range(in_flight))
        )
    finally:
        for link in clients:
            await link.close()
    return done, sum(await asyncio.gather(*floods))


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def start_hsm(tree: Path, profile: bool, niceness: int,
              loop: str) -> tuple[subprocess.Popen[str], int]:
    """The HSM of the checkout at ``tree`` in a child process, and its port."""
    server = subprocess.Popen(
        [sys.executable, "-c", SERVER, "1" if profile else "0", str(niceness), loop],
        stdout=subprocess.PIPE, text=True, cwd=tree,
    )
    assert server.stdout is not None
    return server, int(server.stdout.readline())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--links", type=int, default=1, help="HsmLink connections (1)")
    parser.add_argument("--in-flight", type=int, default=64, help="requests in flight per link")
    parser.add_argument("--seconds", type=float, default=3.0, help="length of one run")
    parser.add_argument("--runs", type=int, default=5, help="timed runs (median reported)")
    parser.add_argument("--profile", action="store_true", help="cProfile the server")
    parser.add_argument("--rsa-flood", type=int, default=0, metavar="N",
                        help="also run each run beside N connections flooding EI (0)")
    parser.add_argument("--rsa-niceness", type=int, default=None, metavar="N",
                        help="niceness added to the HSM's RSA threads (default: the HSM's)")
    parser.add_argument("--server-loop", choices=["uvloop", "asyncio"], default="uvloop",
                        help="the HSM's event loop (uvloop, as atmsim hsm runs it)")
    parser.add_argument("--client-loop", choices=["uvloop", "asyncio"], default="uvloop",
                        help="the client's event loop (uvloop, as the switch runs it)")
    parser.add_argument("--against", type=Path, default=None, metavar="TREE",
                        help="alternate every run with an HSM started from TREE")
    args = parser.parse_args(argv)

    work = workload(600)
    niceness = RSA_WORKER_NICENESS if args.rsa_niceness is None else args.rsa_niceness
    here = Path(__file__).resolve().parent.parent
    server, port = start_hsm(here, args.profile, niceness, args.server_loop)
    other = (start_hsm(args.against.resolve(), False, niceness, args.server_loop)
             if args.against else None)
    try:
        run_loop = uvloop.run if args.client_loop == "uvloop" else asyncio.run
        run_loop(one_run(port, work, args.links, args.in_flight, 0.5))  # warm-up
        if other:
            run_loop(one_run(other[1], work, args.links, args.in_flight, 0.5))
        rates: list[float] = []
        print(
            f"DA verifications over TCP: {args.links} link(s) x {args.in_flight} in flight, "
            f"{args.runs} runs of {args.seconds:.1f} s, HSM on {args.server_loop}, "
            f"client on {args.client_loop}, "
            f"load average before {os.getloadavg()[0]:.2f}"
        )
        flooded: list[float] = []
        pair_rates: list[float] = []
        against: list[float] = []
        cpu_us: dict[str, list[float]] = {"this": [], "against": []}
        variants = [(0, "this", server, port)]
        if args.rsa_flood:
            variants.append((args.rsa_flood, "this", server, port))
        if other:
            variants.append((0, "against", other[0], other[1]))
        for run in range(1, args.runs + 1):
            for flood, which, process, at in variants:
                server_cpu, client_cpu = process_cpu_seconds(process.pid), time.process_time()
                started = time.perf_counter()
                count, pairs = run_loop(one_run(at, work, args.links, args.in_flight,
                                                   args.seconds, flood))
                wall = time.perf_counter() - started
                server_cpu = process_cpu_seconds(process.pid) - server_cpu
                client_cpu = time.process_time() - client_cpu
                if which == "against":
                    against.append(count / wall)
                else:
                    (flooded if flood else rates).append(count / wall)
                if not flood:
                    cpu_us[which].append(server_cpu * 1e6 / max(count, 1))
                if flood:
                    pair_rates.append(pairs / wall)
                label = " + EI flood" if flood else (" against" if which == "against" else "")
                print(
                    f"  run {run}{label}: {count / wall:8.0f}/s  "
                    f"(HSM process CPU {100 * server_cpu / wall:3.0f}%, "
                    f"{server_cpu * 1e6 / max(count, 1):5.1f} us each; "
                    f"client CPU {100 * client_cpu / wall:3.0f}%)"
                    + (f"  RSA 2048 pairs {pairs / wall:.1f}/s" if flood else "")
                )
        print(
            f"median {statistics.median(rates):.0f} verifications/s "
            f"(min {min(rates):.0f}, max {max(rates):.0f}), "
            f"HSM CPU {statistics.median(cpu_us['this']):.1f} us each; "
            f"load average after {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores"
        )
        if against:
            ratios = [a / b for a, b in zip(rates, against, strict=True)]
            print(
                f"against {args.against}: median {statistics.median(against):.0f}/s, "
                f"HSM CPU {statistics.median(cpu_us['against']):.1f} us each; "
                f"median ratio this/against {statistics.median(ratios):.2f} "
                f"(min {min(ratios):.2f}, max {max(ratios):.2f})"
            )
        if flooded:
            # Each flooded run against the run alone just before it: the load of the
            # machine changes less within a pair than across the benchmark.
            ratios = [with_flood / alone for with_flood, alone in zip(flooded, rates,
                                                                       strict=True)]
            print(
                f"beside {args.rsa_flood} EI-flooding connection(s): median "
                f"{statistics.median(flooded):.0f} verifications/s, median ratio to the "
                f"run alone {statistics.median(ratios):.2f} "
                f"(min {min(ratios):.2f}, max {max(ratios):.2f}); "
                f"median {statistics.median(pair_rates):.1f} RSA 2048 key pairs/s"
            )
    finally:
        for process in (server, other[0] if other else None):
            if process is not None:
                process.terminate()
                process.wait(timeout=10)
    return 0


if __name__ == "__main__":
    sys.exit(main())
