"""The codec's direct path gives exactly what pyiso8583 plus the full checks give.

Well-formed messages take the direct path; these tests hold its bytes and fields to
pyiso8583's, and its refusals to the full path's, over many generated messages.
"""

from __future__ import annotations

import random
import string

import iso8583
import pytest

from atmsim.kernel.wire import WireError, default_profile
from atmsim.kernel.wire.fields import ISO8583_1987, FieldDef

PROFILE = default_profile()


def _value(fdef: FieldDef, rng: random.Random) -> str:
    size = fdef.wire_len if fdef.fixed else rng.randint(1, fdef.wire_len)
    alphabet = {"n": string.digits, "an": string.ascii_letters + string.digits,
                "ans": "".join(chr(c) for c in range(32, 127)), "b": "0123456789ABCDEF",
                "z": string.digits, "xn": string.digits}[fdef.kind]
    value = "".join(rng.choice(alphabet) for _ in range(size))
    if fdef.kind == "xn":
        value = rng.choice("CD") + value[1:]
    if fdef.kind == "z" and size > 2:
        value = value[:size // 2] + "=" + value[size // 2 + 1:]
    if fdef.kind == "an" and size > 2 and rng.random() < 0.3:
        value = value[:-2] + "  "  # right padding is allowed
    return value


def _message(rng: random.Random) -> dict[str, str]:
    numbers = rng.sample(sorted(n for n in ISO8583_1987 if n != 65), rng.randint(1, 24))
    message = {"t": rng.choice(["0200", "0210", "0800", "0810"])}
    for number in sorted(numbers):
        message[str(number)] = _value(ISO8583_1987[number], rng)
    return message


def _reference_decode(raw: bytes) -> dict[str, str]:
    decoded, encoded = iso8583.decode(bytearray(raw), PROFILE.spec)
    for parts in encoded.values():  # pyiso8583 reads a " 3" length prefix as 3: the wire does not
        if parts["len"] and not parts["len"].isdigit():
            raise WireError("", "length prefix is not digits")
    message = {k: v for k, v in decoded.items() if k not in ("p", "1", "h")}
    PROFILE.check(message)
    return message


@pytest.mark.parametrize("seed", range(4))
def test_encode_and_decode_match_pyiso8583(seed: int) -> None:
    rng = random.Random(seed)
    for _ in range(300):
        message = _message(rng)
        reference, _ = iso8583.encode(dict(message), PROFILE.spec)
        assert PROFILE.encode(message) == bytes(reference)
        assert PROFILE.decode(bytes(reference)) == _reference_decode(bytes(reference))
        # ... and it is the direct path that answered, not the fallback.
        assert PROFILE.direct.encode(message) == bytes(reference)
        assert PROFILE.direct.decode(bytes(reference)) == _reference_decode(bytes(reference))


@pytest.mark.parametrize("seed", range(4))
def test_damaged_messages_are_refused_as_the_full_path_refuses_them(seed: int) -> None:
    rng = random.Random(seed)
    for _ in range(300):
        raw = bytearray(PROFILE.encode(_message(rng)))
        if rng.random() < 0.5:
            raw = raw[:rng.randrange(len(raw))]
        else:
            raw[rng.randrange(len(raw))] = rng.randrange(256)
        try:
            expected: dict[str, str] | str = _reference_decode(bytes(raw))
        except (iso8583.DecodeError, WireError, UnicodeDecodeError):
            expected = "refused"
        try:
            got: dict[str, str] | str = PROFILE.decode(bytes(raw))
        except WireError:
            got = "refused"
        assert got == expected, bytes(raw)
