"""Published vectors and the pure helpers the provisioning code relies on."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hsm_helpers import TEST_LMK, TPK_CLEAR, RawHsm

from atmsim.kernel.crypto.pin_blocks import build_pin_block, extract_pin
from hsm_mock import HsmError, HsmServer, VariantLmk
from hsm_mock.keys import kcv
from hsm_mock.lmk import PAIR_NAMES
from hsm_mock.pin_verification import visa_pvv


def test_published_kcv() -> None:
    assert kcv(bytes.fromhex("0123456789ABCDEFFEDCBA9876543210")) == "08D7B4"


def test_published_iso0_pin_block() -> None:
    # Manual example: PIN 92389, PAN 4000 0012 3456 2.
    block = build_pin_block("92389", "01", "400000123456")
    assert block.hex().upper() == "0592789FFFEDCBA9"
    assert extract_pin(block, "01", "400000123456") == "92389"


def test_published_visa_pvv() -> None:
    pair = bytes.fromhex("13345779133457791334577913345779")
    assert visa_pvv(pair, "1234567890123", 0, "1234") == "1226"


@pytest.mark.parametrize(
    ("scheme", "clear_length", "prefix", "hex_length"),
    [("Z", 8, "", 16), ("U", 16, "U", 32), ("T", 24, "T", 48)],
)
def test_encrypt_key_gives_the_field_a_command_carries(
    scheme: str, clear_length: int, prefix: str, hex_length: int
) -> None:
    clear = bytes(range(1, clear_length + 1))
    field = TEST_LMK.encrypt_key(clear, "002", scheme)
    assert field.startswith(prefix) and len(field) == len(prefix) + hex_length
    assert TEST_LMK.decrypt_key(field, "002").material == clear
    # The same key under another key type decrypts to something else.
    assert TEST_LMK.decrypt_key(field, "001").material != clear


def test_encrypt_key_refuses_a_length_that_does_not_fit_the_scheme() -> None:
    with pytest.raises(HsmError) as caught:
        TEST_LMK.encrypt_key(TPK_CLEAR, "002", "T")
    assert caught.value.code == "27"


def test_key_repr_shows_type_and_check_value_only() -> None:
    key = TEST_LMK.decrypt_key(TEST_LMK.encrypt_key(TPK_CLEAR, "002"), "002")
    assert repr(key) == "<Key type=002 kcv=363645>"
    assert TPK_CLEAR.hex().upper() not in repr(key) + str(key)


def test_lmk_loads_from_json_and_text_files(tmp_path: Path) -> None:
    pairs = {name: TEST_LMK.pair(name).hex().upper() for name in PAIR_NAMES}
    (tmp_path / "lmk.json").write_text(json.dumps(pairs))
    (tmp_path / "lmk.txt").write_text(
        "# test LMK\n" + "\n".join(f"{n} {v}" for n, v in pairs.items()) + "\n"
    )
    assert VariantLmk.from_file(tmp_path / "lmk.json") == TEST_LMK
    assert VariantLmk.from_file(tmp_path / "lmk.txt").is_test_lmk
    (tmp_path / "short.json").write_text(json.dumps(dict(list(pairs.items())[:19])))
    with pytest.raises(ValueError):
        VariantLmk.from_file(tmp_path / "short.json")


async def test_keys_under_another_lmk_do_not_work_here() -> None:
    other_lmk = VariantLmk([bytes([0x40 + i]) * 16 for i in range(20)])
    foreign = other_lmk.encrypt_key(TPK_CLEAR, "002")
    async with HsmServer(port=0, lmk=other_lmk) as server:
        client = await RawHsm.connect(server.port)
        there = await client.command("BU", "021" + foreign + ";U01")
        await client.close()
    assert there.fields == b"363645"
    assert TEST_LMK.decrypt_key(foreign, "002").kcv() != "363645"
