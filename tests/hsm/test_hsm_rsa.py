"""RSA over TCP: EI generates a pair, EW signs with its private key, FY is refused.

The public key is checked with ``cryptography`` (standard DER for encoding 02, byte for
byte; the numbers for 01) and with a DER reader written in the tests; the private key is
decrypted here with the test LMK pair 34-35 by ``cryptography`` directly, and its
signatures are verified with the public key EI returned. psec has no RSA to compare with.
"""

from __future__ import annotations

import asyncio

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers import Cipher, modes
from hsm_helpers import (
    DEC_TABLE,
    PVK,
    TEST_LMK,
    TPK,
    VALIDATION_DATA,
    RawHsm,
    WireReply,
    account12,
    encrypted_pin_block,
    read_rsa_public_key,
)

from hsm_mock import HsmServer
from hsm_mock.server import MAX_PENDING_PER_CONNECTION


def split_ej(reply: WireReply) -> tuple[bytes, bytes]:
    """(public key DER, private key cryptogram) from EJ 00's fields."""
    assert (reply.response_code, reply.error_code) == ("EJ", "00"), reply
    _, rest = read_rsa_public_key(reply.fields)
    public = reply.fields[: len(reply.fields) - len(rest)]
    length = int(rest[:4])
    assert len(rest) == 4 + length
    return public, rest[4:]


def public_key(der: bytes) -> rsa.RSAPublicKey:
    (modulus, exponent), rest = read_rsa_public_key(der)
    assert not rest
    return rsa.RSAPublicNumbers(exponent, modulus).public_key()


def ew(data: bytes, private: bytes, hash_id: bytes = b"06") -> bytes:
    return (hash_id + b"0101" + f"{len(data):04d}".encode() + data + b";99"
            + f"{len(private):04d}".encode() + private)


def lmk_34_35_decrypt(cryptogram: bytes) -> bytes:
    """Decrypt as docs/hsm.md says: 2-key TDES-CBC, IV zero, under LMK pair 34-35."""
    pair = TEST_LMK.pair("34-35")
    decryptor = Cipher(TripleDES(pair + pair[:8]), modes.CBC(bytes(8))).decryptor()
    return decryptor.update(cryptogram) + decryptor.finalize()


async def test_ei_02_is_the_der_cryptography_writes_and_ew_signs_what_it_verifies(
        raw: RawHsm) -> None:
    der, private = split_ej(await raw.command("EI", "2102402"))
    key = serialization.load_der_public_key(der)
    assert isinstance(key, rsa.RSAPublicKey) and key.key_size == 1024
    assert key.public_numbers().e == 65537
    # Encoding 02 is standard DER: what cryptography writes for the same key, byte for byte.
    assert key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.PKCS1) == der
    for hash_id, algorithm in ((b"06", hashes.SHA256()), (b"01", hashes.SHA1())):
        signed = await raw.command("EW", ew(b"balance inquiry;0200", private, hash_id))
        assert (signed.response_code, signed.error_code) == ("EX", "00")
        assert int(signed.fields[:4]) == len(signed.fields) - 4 == 128
        key.verify(signed.fields[4:], b"balance inquiry;0200", padding.PKCS1v15(), algorithm)
    with pytest.raises(InvalidSignature):
        key.verify(signed.fields[4:], b"balance inquiry;0201", padding.PKCS1v15(),
                   hashes.SHA1())


async def test_ei_01_writes_the_integers_unsigned(raw: RawHsm) -> None:
    der, private = split_ej(await raw.command("EI", "0102401"))
    key = public_key(der)
    modulus = key.public_numbers().n
    # SEQUENCE (136) { INTEGER (128 bytes, top bit set, no leading 00), INTEGER 010001 }
    assert der[:7].hex() == "308188028180" + f"{modulus >> 1016:02x}"
    assert der[6] & 0x80 and der[-5:].hex() == "0203010001"
    with pytest.raises(ValueError):  # not DER a strict parser accepts: the modulus is "negative"
        serialization.load_der_public_key(der)
    signed = await raw.command("EW", ew(b"x", private))
    key.verify(signed.fields[4:], b"x", padding.PKCS1v15(), hashes.SHA256())


async def test_the_private_key_is_under_lmk_34_35(raw: RawHsm) -> None:
    der, private = split_ej(await raw.command("EI", "1102402"))
    clear = lmk_34_35_decrypt(private)
    assert clear[:1] == b"1"  # the key type indicator (key management only)
    body = clear[1:].rstrip(b"\x00")
    assert body.endswith(b"\x80")  # ISO 9797-1 padding method 2
    key = serialization.load_der_private_key(body[:-1], password=None)
    assert isinstance(key, rsa.RSAPrivateKey)
    assert key.public_key().public_numbers() == public_key(der).public_numbers()


@pytest.mark.parametrize(("bits", "exponent"), [(320, b"0017\x01\x00\x01"),
                                                (512, b"0005\x11"), (1024, b"0002\x03")])
async def test_ei_takes_the_modulus_length_and_the_public_exponent(
        raw: RawHsm, bits: int, exponent: bytes) -> None:
    der, private = split_ej(await raw.command("EI", b"0" + f"{bits:04d}".encode() + b"02"
                                                 + exponent))
    numbers = public_key(der).public_numbers()
    assert numbers.n.bit_length() == bits
    assert numbers.e == int.from_bytes(exponent[4:], "big")
    assert len(private) % 8 == 0
    signed = await raw.command("EW", ew(b"data", private, b"01"))
    if bits == 320:  # 40 bytes: too short for a SHA-1 DigestInfo
        assert signed.error_code == "15"
    else:
        public_key(der).verify(signed.fields[4:], b"data", padding.PKCS1v15(), hashes.SHA1())


@pytest.mark.parametrize(("fields", "error"), [
    (b"5102402", "05"),  # key type indicator
    (b"A102402", "15"),
    (b"2031902", "04"),  # modulus below 320 bits
    (b"2204902", "04"),  # above 2048 (4096 needs a key-block LMK)
    (b"2409602", "04"),
    (b"2102403", "03"),  # public key encoding
    (b"2102400", "03"),
    (b"21024020002\x02", "08"),  # even exponent
    (b"21024020000", "06"),  # exponent length 0
    (b"21024020017\x00\x00\x03", "06"),  # 17 bits announced, 2 given
    (b"21024020001\x01", "06"),  # a 1-bit exponent
    (b"21024020017\x01", "15"),  # 17 bits announced, the bytes missing
    (b"51024020005\x19", "05"),  # exponent 25 (0x19) is read as the exponent, not a trailer
    (b"2102402%01", "13"),  # LMK identifier
    (b"2102402#0001", "15"),  # optional key-block blocks
    (b"2102402#00", "15"),
    (b"2102402XYZ", "15"),
    (b"21024", "15"),
])
async def test_ei_errors(raw: RawHsm, fields: bytes, error: str) -> None:
    reply = await raw.command("EI", fields)
    assert (reply.response_code, reply.error_code, reply.fields) == ("EJ", error, b"")


async def test_ei_with_lmk_id_key_block_fields_and_trailer(raw: RawHsm) -> None:
    reply = await raw.command("EI", b"0102401%00#0000\x19trailer")
    assert reply.fields.endswith(b"\x19trailer")
    reply = WireReply(reply.header, reply.response_code, reply.error_code,
                      reply.fields[: -len(b"\x19trailer")])
    der, private = split_ej(reply)
    assert public_key(der).key_size == 1024 and private


async def test_ew_errors(raw: RawHsm) -> None:
    _, private = split_ej(await raw.command("EI", "0102402"))
    tampered = private[:-1] + bytes((private[-1] ^ 1,))
    cases = [
        (ew(b"m", tampered), "49"),  # not a key under the LMK
        (ew(b"m", private[8:]), "49"),
        (ew(b"m", private[:-3]), "78"),  # length not whole 8-byte blocks
        (b"0601010001m;00", "12"),  # a user-storage index: storage is empty
        (b"0601010001m;20", "15"),
        (ew(b"m", private, b"09"), "15"),  # hash identifier
        (ew(b"m", b"\x19" * 16, b"09"), "15"),  # a key full of 0x19 is not a trailer
        (b"060201" + ew(b"m", private)[6:], "15"),  # signature identifier
        (b"060102" + ew(b"m", private)[6:], "15"),  # pad mode
        (b"0601010002m;99", "15"),  # data shorter than its length
        (b"0601010000;99", "15"),
        (b"0601010001mX99", "15"),  # no ; after the data
    ]
    for fields, error in cases:
        reply = await raw.command("EW", fields)
        assert (reply.response_code, reply.error_code, reply.fields) == ("EX", error, b""), (
            fields[:20], reply)


async def test_fy_is_refused_under_the_variant_lmk(raw: RawHsm) -> None:
    reply = await raw.command("FY", b"010003#S00S00\x19t")
    assert (reply.response_code, reply.error_code, reply.fields) == ("FZ", "A1", b"\x19t")


async def test_a_flood_of_ei_does_not_hold_up_another_connection(hsm: HsmServer) -> None:
    flood, other = await RawHsm.connect(hsm.port), await RawHsm.connect(hsm.port)
    try:
        before = hsm.status.command_counts["EI"]
        count = 3 * MAX_PENDING_PER_CONNECTION
        for i in range(count):  # pipelined, then an NC behind them on the same connection
            await flood.send_frame(f"{i:04d}EI2204802".encode())
        await flood.send_frame(b"LASTNC")
        # Meanwhile a PIN verification on another connection is answered at once.
        pan = "5264220000100010"
        block = encrypted_pin_block("1234", pan)
        da = (TPK + PVK + "12" + block + "01" + "04" + account12(pan) + DEC_TABLE
              + VALIDATION_DATA + "9041FFFFFFFF")
        verified = await other.command("DA", da)
        assert verified.response_code == "DB" and verified.error_code in ("00", "01", "02")
        assert hsm.status.command_counts["EI"] - before < count
        # The flooding connection gets every reply, in request order, the NC last.
        headers = [(await asyncio.wait_for(flood.read_frame(), 30))[:6] for _ in range(count + 1)]
        assert headers == [f"{i:04d}EJ".encode() for i in range(count)] + [b"LASTND"]
        assert hsm.status.command_counts["EI"] - before == count
    finally:
        await flood.close()
        await other.close()


async def test_j4_counts_ei_ew_and_fy(raw: RawHsm) -> None:
    _, private = split_ej(await raw.command("EI", "0102402"))
    await raw.command("EI", "9102402")  # an error is counted too
    await raw.command("EW", ew(b"m", private))
    await raw.command("FY", "010003")
    text = (await raw.command("J4")).fields.decode()
    table = text[12 + 6 * 6 + 10:]  # after the report header
    counts = {table[i:i + 2]: int(table[i + 2:i + 14]) for i in range(0, len(table), 14)}
    assert counts == {"EI": 2, "EW": 1, "FY": 1}


async def test_many_ei_in_one_write_are_all_answered_in_order(raw: RawHsm) -> None:
    # One chunk holding ten times the per-connection limit of offloaded requests: the rest
    # waits in the server's buffer and is answered as places free up.
    count = 10 * MAX_PENDING_PER_CONNECTION
    frames = [f"{i:04d}EI0102402".encode() for i in range(count)] + [b"LASTNC"]
    raw.writer.write(b"".join(len(f).to_bytes(2, "big") + f for f in frames))
    await raw.writer.drain()
    headers = [(await asyncio.wait_for(raw.read_frame(), 30))[:8] for _ in frames]
    assert headers == [f"{i:04d}EJ00".encode() for i in range(count)] + [b"LASTND00"]
