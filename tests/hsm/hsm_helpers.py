"""Shared test data and helpers for the HSM tests: demo keys, PIN blocks, raw wire.

PIN blocks are built with psec and encrypted with ``cryptography`` directly, so the
tests do not lean on the code under test to produce their inputs.
"""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.ciphers import Cipher, modes
from cryptography.x509.oid import NameOID
from psec import pinblock

from hsm_mock import VariantLmk

__all__ = [
    "DEC_TABLE",
    "PVK",
    "PVK_CLEAR",
    "TEST_LMK",
    "TPK",
    "TPK_CLEAR",
    "VALIDATION_DATA",
    "ZPK",
    "ZPK_CLEAR",
    "RawHsm",
    "WireReply",
    "account12",
    "encrypted_pin_block",
    "read_rsa_public_key",
    "self_signed_certificate",
    "tdes_encrypt",
]

TEST_LMK = VariantLmk.test()

# Demo keys from docs/demo-data.md (clear, test only) and a made-up ZPK for EA/EC.
TPK_CLEAR = bytes.fromhex("E5DC0880CE4094C21A89FB6EC204B0E6")  # KCV 363645
PVK_CLEAR = bytes.fromhex("C48F46EF0420CBF88C1980D62616E97C")  # KCV 04A9A2
ZPK_CLEAR = bytes.fromhex("0123456789ABCDEFFEDCBA9876543210")  # KCV 08D7B4
TPK = TEST_LMK.encrypt_key(TPK_CLEAR, "002")
PVK = TEST_LMK.encrypt_key(PVK_CLEAR, "002")
ZPK = TEST_LMK.encrypt_key(ZPK_CLEAR, "001")

DEC_TABLE = "0123456789012345"
VALIDATION_DATA = "52642N000000"


def account12(pan: str) -> str:
    """The 12 right-most PAN digits excluding the check digit."""
    return pan[-13:-1]


def tdes_encrypt(key: bytes, data: bytes) -> bytes:
    full = key + key[:8] if len(key) == 16 else key
    encryptor = Cipher(TripleDES(full), modes.ECB()).encryptor()
    return encryptor.update(data) + encryptor.finalize()


def encrypted_pin_block(pin: str, pan: str, key: bytes = TPK_CLEAR, fmt: str = "01") -> str:
    """An ISO 0 ("01") or ISO 3 ("47") PIN block under ``key``, as 16 hex."""
    encode = pinblock.encode_pinblock_iso_0 if fmt == "01" else pinblock.encode_pinblock_iso_3
    return tdes_encrypt(key, encode(pin, pan)).hex().upper()


def self_signed_certificate(folder: Path, name: str) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 (its own CA) and its key, as PEM files."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"{name}.test")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / f"{name}.pem", folder / f"{name}.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


@dataclass(frozen=True)
class WireReply:
    header: bytes
    response_code: str
    error_code: str
    fields: bytes


class RawHsm:
    """A bare TCP client writing frames by hand, for wire-level assertions."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def connect(cls, port: int) -> RawHsm:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        return cls(reader, writer)

    async def send_frame(self, message: bytes) -> None:
        self.writer.write(len(message).to_bytes(2, "big") + message)
        await self.writer.drain()

    async def read_frame(self) -> bytes:
        length = int.from_bytes(await self.reader.readexactly(2), "big")
        return await self.reader.readexactly(length)

    async def call(self, message: bytes) -> bytes:
        await self.send_frame(message)
        return await asyncio.wait_for(self.read_frame(), 5)

    async def command(
        self, code: str, fields: str | bytes = b"", header: bytes = b"HEAD"
    ) -> WireReply:
        body = fields.encode("ascii") if isinstance(fields, str) else fields
        reply = await self.call(header + code.encode("ascii") + body)
        rest = reply[len(header) :]
        return WireReply(reply[: len(header)], rest[:2].decode(), rest[2:4].decode(), rest[4:])

    async def close(self) -> None:
        self.writer.close()
        try:
            await self.writer.wait_closed()
        except OSError:
            pass


def _der_value(data: bytes, tag: int) -> tuple[bytes, bytes]:
    assert data[0] == tag, f"DER tag {data[0]:#x}, expected {tag:#x}"
    length, offset = data[1], 2
    if length & 0x80:
        count = length & 0x7F
        length, offset = int.from_bytes(data[2:2 + count], "big"), 2 + count
    return data[offset:offset + length], data[offset + length:]


def read_rsa_public_key(data: bytes) -> tuple[tuple[int, int], bytes]:
    """(modulus, exponent) of the RSAPublicKey at the start of ``data``, and what follows.

    Written here, not taken from hsm_mock: it reads both of EI's encodings (unsigned
    INTEGERs, 01, and two's complement, 02) as positive numbers.
    """
    sequence, rest = _der_value(data, 0x30)
    modulus, sequence = _der_value(sequence, 0x02)
    exponent, sequence = _der_value(sequence, 0x02)
    assert not sequence
    return (int.from_bytes(modulus, "big"), int.from_bytes(exponent, "big")), rest
