"""(a) Codec cost per balance inquiry: the 0200 and the 0210, encoded and decoded.

One inquiry costs four codec calls: the ATM encodes the 0200, the switch decodes it,
encodes the 0210, and the ATM decodes that. Each is timed on real messages (a demo
card's 0200 with field 103 and an approved 0210 with fields 48 and 54), through the
profile as the switch uses it (the direct path for well-formed messages) and through
pyiso8583 plus the full field checks (the path errors take, and the only path before).

    python benchmarks/codec_cost.py            # median of 7 repeats of 20,000 calls
    python benchmarks/codec_cost.py --profile bcd-binary   # another wire profile
"""

from __future__ import annotations

import argparse
import statistics
import sys
import timeit
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import iso8583

from atmsim.kernel.demo_data import DEMO_CARDS
from atmsim.kernel.wire import IsoMessage, WireProfile
from atmsim.kernel.wire.additional_data import encode_tlv
from atmsim.kernel.wire.profile_file import load_profile
from terminal_ui.device.transactions import CardData, balance_inquiry_request

__all__ = ["inquiry_messages", "time_call", "main"]


def inquiry_messages() -> tuple[IsoMessage, IsoMessage]:
    """A typical 0200 (Andi typing his KPJ) and an approved 0210 of the same sizes."""
    andi = DEMO_CARDS[2]
    request = balance_inquiry_request(CardData(andi.pan, andi.expiry, andi.track2),
                                      "8E3B4F8E5A1C2D3F", terminal_id="BNI00002",
                                      stan="000123", kpj="13055500011")
    response: IsoMessage = {"t": "0210"}
    for number in ("2", "3", "4", "7", "11", "32", "37"):
        response[number] = request[number]
    response.update({"38": "482913", "39": "00", "41": request["41"],
                     # As the switch writes it (a hand-written length here once
                     # broke the TLV, and the bare server's every answer with it).
                     "48": encode_tlv([("KP", "13055500011"), ("NM", "A**i W****a"),
                                       ("ST", "AKTIF"), ("DT", "20261031"), ("SG", "PU")]),
                     "49": "360", "54": "0001360C000098765400"})
    return request, response


def time_call(call: Callable[[], object], number: int, repeats: int) -> float:
    """Median seconds per call."""
    return statistics.median(t / number for t in timeit.repeat(call, number=number,
                                                                repeat=repeats))


def _full_path(profile: WireProfile) -> dict[str, Callable[[object], object]]:
    def encode(message: object) -> bytes:
        assert isinstance(message, dict)
        profile.check(message)
        doc = {k: v if k == "t" else profile.codecs[k].to_wire(v) for k, v in message.items()}
        return bytes(iso8583.encode(doc, profile.spec)[0])

    def decode(raw: object) -> object:
        assert isinstance(raw, bytes)
        decoded = {k: v if k == "t" else profile.codecs[k].from_wire(v)
                   for k, v in iso8583.decode(bytearray(raw), profile.spec)[0].items()
                   if k not in ("p", "1", "h")}
        profile.check(decoded)
        return decoded

    return {"encode": encode, "decode": decode}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--number", type=int, default=20_000)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--profile", default="default", metavar="NAME|FILE",
                        help="wire profile (default: default, on the direct path)")
    args = parser.parse_args(argv)
    profile = load_profile(args.profile)
    request, response = inquiry_messages()
    raw_request, raw_response = profile.encode(request), profile.encode(response)
    print(f"profile {profile.name} ({'direct path' if profile.direct else 'pyiso8583'}): "
          f"0200: {len(raw_request)} bytes, 0210: {len(raw_response)} bytes")
    full = _full_path(profile)
    rows = [("ATM encodes the 0200", profile.encode, full["encode"], request),
            ("switch decodes the 0200", profile.decode, full["decode"], raw_request),
            ("switch encodes the 0210", profile.encode, full["encode"], response),
            ("ATM decodes the 0210", profile.decode, full["decode"], raw_response)]
    totals = [0.0, 0.0]
    print(f"{'':26}{'atmsim':>10}{'pyiso8583 + checks':>22}")
    for label, ours, reference, argument in rows:
        fast = time_call(lambda f=ours, a=argument: f(a), args.number, args.repeats)  # type: ignore[misc]
        slow = time_call(lambda f=reference, a=argument: f(a), args.number, args.repeats)  # type: ignore[misc]
        totals[0] += fast
        totals[1] += slow
        print(f"{label:<26}{fast * 1e6:8.1f} us{slow * 1e6:18.1f} us")
    print(f"{'per inquiry (4 calls)':<26}{totals[0] * 1e6:8.1f} us{totals[1] * 1e6:18.1f} us")
    print(f"(a) codec: {totals[0] * 1e6:.1f} us per inquiry, at most "
          f"{1 / totals[0]:,.0f} inquiries/s on one core (pyiso8583 + checks: "
          f"{totals[1] * 1e6:.1f} us, {1 / totals[1]:,.0f}/s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
