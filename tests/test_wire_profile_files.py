"""Wire profiles as files: the shipped ones byte for byte, a user's own, and bad files
refused in one line that names the file, the line and the field."""

from __future__ import annotations

from pathlib import Path

import pytest

from atmsim.kernel.wire import WireError, default_profile
from atmsim.kernel.wire.fields import ISO8583_1987
from atmsim.kernel.wire.profile import WireProfile
from atmsim.kernel.wire.profile_file import (
    ProfileError,
    load_profile,
    parse_profile,
    profile_toml,
    shipped_profiles,
)

ECHO = {"t": "0800", "7": "1121060000", "11": "000001", "41": "BNI00001", "70": "301"}
INQUIRY = {"t": "0200", "2": "5264220000100010", "3": "310000", "4": "000000000000",
           "7": "1121060000", "11": "000001", "12": "130000", "13": "1121", "14": "3012",
           "18": "6011", "22": "021", "25": "02", "32": "009",
           "35": "5264220000100010=3012101", "37": "632113000001", "41": "BNI00001",
           "42": "BNI000000000001", "43": "BNI KCP SUDIRMAN        JAKARTA       ID",
           "49": "360", "52": "0123456789ABCDEF", "103": "10012345678"}


def test_the_shipped_profiles_are_there() -> None:
    assert {"default", "bcd-binary", "ebcdic"} <= set(shipped_profiles())


def test_default_file_is_the_iso8583_1987_table_in_ascii_on_the_direct_path() -> None:
    profile = load_profile("default")
    assert profile is default_profile()
    assert profile.fields == ISO8583_1987
    assert profile.direct is not None
    built_in = WireProfile.from_fields("default", ISO8583_1987)
    assert profile.encode(INQUIRY) == built_in.encode(INQUIRY)
    assert profile.encode(ECHO) == b"080082200000008000000400000000000000112106000000" \
                                   b"0001BNI00001301"


def test_bcd_binary_bytes() -> None:
    profile = load_profile("bcd-binary")
    assert profile.direct is None  # not ASCII: pyiso8583
    assert profile.header.value == bytes.fromhex("6000010000")
    assert profile.encode(ECHO) == bytes.fromhex(
        "0800" "8220000000800000" "0400000000000000"  # BCD MTI, binary bitmaps (1, 7, 11, 41; 70)
        "1121060000" "000001") + b"BNI00001" + bytes.fromhex("0301")  # n3 padded left
    raw = profile.encode(INQUIRY)
    # Field 2: BCD length 16 (digits), 8 bytes of BCD; field 35: 24 digits, "=" as D.
    assert bytes.fromhex("165264220000100010") in raw
    assert bytes.fromhex("245264220000100010D3012101") in raw
    assert bytes.fromhex("0123456789ABCDEF") in raw  # the PIN block as its 8 bytes
    assert profile.decode(raw) == INQUIRY


def test_bcd_track2_of_an_odd_length_is_padded_with_f() -> None:
    profile = load_profile("bcd-binary")
    message = {**INQUIRY, "35": "5264220000100010=301210"}
    raw = profile.encode(message)
    assert bytes.fromhex("235264220000100010D301210F") in raw
    assert profile.decode(raw)["35"] == "5264220000100010=301210"


def test_ebcdic_bytes() -> None:
    profile = load_profile("ebcdic")
    raw = profile.encode(ECHO)
    assert raw[:4] == "0800".encode("cp500") == bytes.fromhex("F0F8F0F0")
    assert raw[4:20] == bytes.fromhex("8220000000800000" "0400000000000000")
    assert "BNI00001".encode("cp500") in raw
    assert profile.decode(profile.encode(INQUIRY)) == INQUIRY


@pytest.mark.parametrize("name", ["default", "bcd-binary", "ebcdic"])
def test_every_profile_checks_fields_and_salvages_alike(name: str) -> None:
    profile = load_profile(name)
    with pytest.raises(WireError, match=r"field 3: must hold digits only \(n6\)"):
        profile.encode({**INQUIRY, "3": "31000A"})
    raw = profile.encode(INQUIRY)
    with pytest.raises(WireError) as caught:
        profile.decode(raw[:-3])  # field 103 cut short
    assert caught.value.partial["11"] == "000001"
    assert caught.value.partial["41"] == "BNI00001"
    assert "103" not in caught.value.partial


def test_bad_bcd_digit_is_left_out_and_reading_goes_on() -> None:
    profile = load_profile("bcd-binary")
    raw = bytearray(profile.encode(INQUIRY))
    at = raw.index(bytes.fromhex("310000"))
    raw[at + 2] = 0x0A  # processing code 31000A: not a BCD digit
    with pytest.raises(WireError) as caught:
        profile.decode(bytes(raw))
    assert caught.value.field == "3"
    assert "3" not in caught.value.partial
    assert caught.value.partial["11"] == "000001"


def test_shown_table_loads_back_to_the_same_bytes(tmp_path: Path) -> None:
    for name in shipped_profiles():
        profile = load_profile(name)
        text = profile_toml(profile)
        assert 'base = "none"' in text and "2 = { format = \"n..19\"" in text
        copy = tmp_path / f"{name}.toml"
        copy.write_text(text)
        again = load_profile(str(copy))
        assert again.encode(INQUIRY) == profile.encode(INQUIRY)
        assert again.header == profile.header and again.framing == profile.framing


def test_a_users_own_profile(tmp_path: Path) -> None:
    path = tmp_path / "mine.toml"
    path.write_text('''
name = "mine"
base = "none"
[framing]
length = "4ascii"
header = "fixed"
header_value = "49534F"    # "ISO"
[encoding]
numeric = "bcd"
lengths = "binary"
[fields]
3 = "n6"
11 = "n6"
35 = { format = "z..37", encoding = "ascii" }
41 = { format = "ans8", name = "Terminal" }
48 = "ans...999"
''')
    profile = load_profile(str(path))
    assert profile.framing == "4ascii" and profile.header.answer(b"ISO") == b"ISO"
    assert sorted(profile.fields) == [3, 11, 35, 41, 48]
    message = {"t": "0200", "3": "310000", "11": "000042", "35": "5264=3012",
               "41": "BNI00001", "48": "x" * 300}
    raw = profile.encode(message)
    assert b"\x095264=3012" in raw  # its own encoding: ASCII, binary length 9
    assert b"\x01\x2c" + b"x" * 300 in raw  # LLL as 2 binary bytes: 300
    assert profile.decode(raw) == message
    with pytest.raises(WireError, match="field 2: is not defined in this profile"):
        profile.encode({**message, "2": "5264220000100010"})


@pytest.mark.parametrize("text, words", [
    ('[fields]\n2 = "n..19"\n3 = "n.6"\n', "line 3: field 3: 'n.6' is not a field format"),
    ('[fields]\n\n129 = "n6"\n', "line 3: '129' is not a field number"),
    ('[fields]\n52 = { format = "b8", encoding = "bcd" }\n',
     "line 2: field 52: encoding 'bcd' for a b field: use hex, binary"),
    ('[fields]\n52 = { format = "b8", colour = "red" }\n', "line 2: field 52: unknown key"),
    ('[encoding]\nmti = "ascii"\nnumeric = "packed"\n',
     "line 3: numeric = 'packed': use ascii, ebcdic, bcd"),
    ('[framing]\nlength = "3be"\n', "line 2: length = '3be': use 2be, 2be-incl, 4ascii"),
    ('[framing]\nheader = "tpdu"\nheader_value = "6000"\n',
     "line 3: a TPDU is 5 bytes (10 hex digits), got 2"),
    ('[framing]\nheader = "fixed"\nheader_value = "XYZ"\n',
     "line 3: header_value 'XYZ' is not hex digits"),
    ('base = "iso8583-1993"\n', "line 1: base 'iso8583-1993': use iso8583-1987, none"),
    ('nmae = "x"\n', "line 1: unknown key 'nmae'"),
    ('[fields]\n44 = "an..120"\n', "line 2: field 44 (an..120): 120 characters do not fit "
     "its length prefix (at most 99 in ascii lengths); write it LLLVAR (an...120)"),
    ('[encoding]\nlengths = "binary"\n[fields]\n44 = "an..300"\n',
     "line 4: field 44 (an..300): 300 characters do not fit its length prefix (at most 255 "
     "in binary lengths)"),
    ('[fields]\n2 = "n..19\n', "mine.toml: Illegal character"),
])
def test_a_bad_profile_file_is_one_line_naming_where(tmp_path: Path, text: str,
                                                     words: str) -> None:
    path = tmp_path / "mine.toml"
    path.write_text(text)
    with pytest.raises(ProfileError) as caught:
        load_profile(str(path))
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(str(path)) and words in message, message


def test_an_unknown_name_says_which_ones_exist() -> None:
    with pytest.raises(ProfileError, match=r"not a shipped one .*bcd-binary.*no such file"):
        load_profile("bcd")


def test_parse_profile_names_its_origin() -> None:
    with pytest.raises(ProfileError, match=r"^here: the profile defines no field"):
        parse_profile('base = "none"\n', "here")
