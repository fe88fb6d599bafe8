"""The default wire profile: exact bytes, strict field checks, errors that name the field."""

from __future__ import annotations

import pytest

from atmsim.kernel.wire import FrameError, Framing, WireError, default_profile
from atmsim.kernel.wire.framing import PAYSHIELD_FRAMING

PROFILE = default_profile()
INQUIRY = {"t": "0200", "2": "5264220000100010", "3": "310000", "4": "000000000000",
           "7": "1121060000", "11": "000001", "41": "BNI00001", "49": "360",
           "52": "0123456789ABCDEF"}


def test_secondary_bitmap_only_when_a_field_above_64_is_present() -> None:
    without = PROFILE.encode(INQUIRY)
    assert without[4:20] == b"7220000000809000"  # bit 1 clear: no secondary bitmap
    with_kpj = PROFILE.encode({**INQUIRY, "103": "10012345678"})
    assert with_kpj[4:20] == b"F220000000809000"
    assert with_kpj[20:36] == b"0000000002000000"  # bit 103
    assert PROFILE.decode(with_kpj)["103"] == "10012345678"


def test_binary_field_travels_as_16_hex_characters() -> None:
    raw = PROFILE.encode(INQUIRY)
    assert raw.endswith(b"3600123456789ABCDEF")


@pytest.mark.parametrize("field, value, words", [
    ("3", "31000A", "field 3: must hold digits only (n6)"),
    ("49", "36", "field 49: must be exactly 3 characters"),
    ("52", "0123456789ABCDEG", "field 52: must hold hexadecimal characters only"),
    ("41", "BNI0001", "field 41: must be exactly 8 characters"),
    ("2", "5" * 20, "field 2: longer than 19"),
    ("39", " 0", "field 39"),
])
def test_encode_refuses_a_bad_field_and_names_it(field: str, value: str, words: str) -> None:
    with pytest.raises(WireError) as caught:
        PROFILE.encode({**INQUIRY, field: value})
    assert str(caught.value).startswith(words)


def test_decode_error_names_the_field_and_keeps_what_was_read() -> None:
    raw = PROFILE.encode(INQUIRY)
    with pytest.raises(WireError) as caught:
        PROFILE.decode(raw[:-4])
    assert caught.value.field == "52"
    assert caught.value.partial["11"] == "000001"


@pytest.mark.parametrize("kind, framed", [
    ("2be", b"\x00\x040800"), ("2be-incl", b"\x00\x060800"), ("4ascii", b"00040800")])
def test_framings(kind: str, framed: bytes) -> None:
    framing = Framing(kind)
    assert framing.frame(b"0800") == framed
    assert framing.body_length(framed[:framing.header_len]) == 4


def test_frames_beyond_the_bound_are_refused() -> None:
    with pytest.raises(FrameError):
        Framing(max_frame=100).body_length(b"\x00\x65")
    with pytest.raises(FrameError):
        Framing().body_length(b"\x00\x00")


@pytest.mark.parametrize("kind", ["2be", "2be-incl", "4ascii"])
def test_frames_are_cut_from_a_buffer_only_once_complete(kind: str) -> None:
    framing = Framing(kind)
    stream = framing.frame(b"0800") + framing.frame(b"0810ab")
    cuts = [framing.cut(stream[:size]) for size in range(len(stream) + 1)]
    first_end = framing.header_len + 4
    assert cuts[:first_end] == [None] * first_end
    assert set(cuts[first_end:]) == {(b"0800", first_end)}
    assert framing.cut(stream, first_end) == (b"0810ab", len(stream))
    assert framing.cut(stream, len(stream) - 1) is None


def test_a_refused_length_is_said_as_soon_as_the_header_is_in() -> None:
    with pytest.raises(FrameError) as caught:
        Framing(max_frame=100).cut(b"\x00\x65")
    assert caught.value.size == 101
    with pytest.raises(FrameError, match="empty"):
        Framing().cut(b"\x00\x00rest")


def test_the_payshield_framing_answers_an_empty_message() -> None:
    assert PAYSHIELD_FRAMING.cut(b"\x00\x00\x00\x02NC") == (b"", 2)
    assert PAYSHIELD_FRAMING.frame(b"") == b"\x00\x00"
    with pytest.raises(FrameError):
        PAYSHIELD_FRAMING.frame(b"x" * 0x10000)
    with pytest.raises(FrameError):
        Framing("2be-incl", allow_empty=True).body_length(b"\x00\x01")  # negative
