"""A third-party payShield client against our HSM: payshield-pressure-test (PyPI).

The tool is AGPL, so it is never imported: it runs as a program from its own virtual
environment, named by ATMSIM_PAYSHIELD_PRESSURE_TEST (the path of its
``payshield-pressuretest`` executable; .ci/run installs it into .venv-ppt/). Without
it the test is skipped, unless ATMSIM_REQUIRE_PAYSHIELD_PRESSURE_TEST=1 (set by
.ci/run), where that is a failure.

Each command the tool can send is run twice on one connection with ``--decode``, so the
tool's own parser reads every reply field it knows, and every reply must carry return
code 00 and match its request. For EI (``--key``) the tool prints the raw reply only, so
the test reads it: an RSA public key of the asked length and a private key under the LMK
that signs (EW) what the public key verifies. FY (``--ecc``) needs a key-block LMK on a
payShield; under this HSM's variant LMK it answers A1, which the tool decodes.
The tool's TLS mode (always with a client certificate) is run against a mutual-TLS HSM.
"""

from __future__ import annotations

import asyncio
import os
import re
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from hsm_helpers import RawHsm, read_rsa_public_key, self_signed_certificate

from hsm_mock import HsmServer

TOOL_VARIABLE = "ATMSIM_PAYSHIELD_PRESSURE_TEST"
DEFAULT_TOOL = Path(__file__).resolve().parents[2] / ".venv-ppt" / "bin" / "payshield-pressuretest"
SUPPORTED = ("--nc", "--no", "--ni", "--pci", "--j2", "--j4", "--j8", "--jk", "--b2",
             "--pingen", "--randgen", ("--key", "2048"))
TOOL_TIMEOUT = 60.0


def tool_path() -> Path:
    path = Path(os.environ.get(TOOL_VARIABLE, DEFAULT_TOOL))
    if not path.is_file():
        if os.environ.get("ATMSIM_REQUIRE_PAYSHIELD_PRESSURE_TEST") == "1":
            pytest.fail(f"ATMSIM_REQUIRE_PAYSHIELD_PRESSURE_TEST=1 but no {path}")
        pytest.skip(f"payshield-pressure-test not installed ({TOOL_VARIABLE} or {DEFAULT_TOOL})")
    return path


async def run_tool(tool: Path, port: int, *options: str) -> str:
    process = await asyncio.create_subprocess_exec(
        str(tool), "127.0.0.1", "--port", str(port), *options, "--times", "2", "--decode",
        "--no-upd-check",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        stdin=asyncio.subprocess.DEVNULL)
    try:
        out, _ = await asyncio.wait_for(process.communicate(), TOOL_TIMEOUT)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise
    return out.decode("utf-8", "replace")


async def test_every_command_the_tool_supports_answers_00() -> None:
    tool = tool_path()
    async with HsmServer(port=0) as hsm:
        for option in SUPPORTED:
            options = option if isinstance(option, tuple) else (option,)
            output = await run_tool(tool, hsm.port, *options)
            codes = re.findall(r"^Return code: (\S+)", output, re.MULTILINE)
            assert codes == ["00", "00"], (option, output)
            assert "seems unrelated" not in output, (option, output)
            assert "Unexpected issue" not in output and "Traceback" not in output, (
                option, output)
        # The HSM counted the tool's traffic (J4 is among what it sent).
        assert hsm.status.command_counts["NC"] == 2 and hsm.status.command_counts["J4"] == 2
        assert hsm.status.command_counts["EI"] == 2


async def test_the_tools_rsa_key_pair_is_2048_bits_and_signs() -> None:
    """The tool sends EI 2 2048 01 #0000 and prints the reply's bytes; read them."""
    tool = tool_path()
    async with HsmServer(port=0) as hsm:
        output = await run_tool(tool, hsm.port, "--key", "2048")
        assert "EI ==> EJ" in output and "HEADEI2204801#0000" in output, output
        frames = [bytes.fromhex(h) for h in
                  re.findall(r"^received data \(HEX\) : ([0-9a-f]+)", output, re.MULTILINE)]
        assert len(frames) == 2 and frames[0] != frames[1]  # a fresh pair each time
        for frame in frames:
            assert int.from_bytes(frame[:2], "big") == len(frame) - 2
            assert frame[2:10] == b"HEADEJ00"
            (modulus, exponent), rest = read_rsa_public_key(frame[10:])
            assert modulus.bit_length() == 2048 and exponent == 65537
            # Encoding 01 (unsigned): the 256-byte modulus has its top bit set, no 00 before it.
            assert frame[10:18].hex() == "3082010902820100" and frame[18] & 0x80
            length = int(rest[:4])
            assert length == len(rest) - 4 and length % 8 == 0
            # The private key signs through EW; the public key from the tool's bytes verifies.
            raw = await RawHsm.connect(hsm.port)
            try:
                signed = await raw.command(
                    "EW", b"060101" + b"0005hello;99" + rest[:4] + rest[4:])
            finally:
                await raw.close()
            assert (signed.response_code, signed.error_code) == ("EX", "00")
            signature = signed.fields[4:]
            assert int(signed.fields[:4]) == len(signature) == 256
            public = rsa.RSAPublicNumbers(exponent, modulus).public_key()
            public.verify(signature, b"hello", padding.PKCS1v15(), hashes.SHA256())


async def test_the_tools_ecc_key_pair_is_refused_under_the_variant_lmk() -> None:
    tool = tool_path()
    async with HsmServer(port=0) as hsm:
        output = await run_tool(tool, hsm.port, "--ecc")
        assert re.findall(r"^Return code: (\S+)", output, re.MULTILINE) == ["A1", "A1"], output
        assert "Incompatible LMK schemes" in output
        assert re.findall(r"^Command returned:\s+(\S+)", output, re.MULTILINE) == ["FZ", "FZ"]
        assert hsm.status.command_counts["FY"] == 2


async def test_the_tool_speaks_mutual_tls_to_the_hsm(tmp_path: Path) -> None:
    tool = tool_path()
    server_cert, server_key = self_signed_certificate(tmp_path, "hsm")
    client_cert, client_key = self_signed_certificate(tmp_path, "client")
    async with HsmServer(port=0, tls_cert=server_cert, tls_key=server_key,
                         tls_client_ca=client_cert) as hsm:
        for option in ("--nc", "--jk"):
            output = await run_tool(tool, hsm.port, option, "--proto", "tls",
                                    "--crtfile", str(client_cert), "--keyfile", str(client_key))
            assert re.findall(r"^Return code: (\S+)", output, re.MULTILINE) == ["00", "00"], output
        # Without the client certificate the HSM trusts, the handshake fails: no reply.
        other_cert, other_key = self_signed_certificate(tmp_path, "stranger")
        refused = await run_tool(tool, hsm.port, "--nc", "--proto", "tls",
                                 "--crtfile", str(other_cert), "--keyfile", str(other_key))
        assert "Return code: 00" not in refused and "Connection issue" in refused, refused
