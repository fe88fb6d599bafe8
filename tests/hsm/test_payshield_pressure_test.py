"""A third-party payShield client against our HSM: payshield-pressure-test (PyPI).

The tool is AGPL, so it is never imported: it runs as a program from its own virtual
environment, named by ATMSIM_PAYSHIELD_PRESSURE_TEST (the path of its
``payshield-pressuretest`` executable; .ci/run installs it into .venv-ppt/). Without
it the test is skipped, unless ATMSIM_REQUIRE_PAYSHIELD_PRESSURE_TEST=1 (set by
.ci/run), where that is a failure.

Each command the tool can send is run twice on one connection with ``--decode``, so the
tool's own parser reads every reply field, and every reply must carry return code 00
and match its request. The two it sends that this HSM does not implement (EI RSA and
FY ECC key pairs) are listed in docs/hsm.md "Known gaps" and checked to answer ZZ 15.
The tool's TLS mode (always with a client certificate) is run against a mutual-TLS HSM.
"""

from __future__ import annotations

import asyncio
import os
import re
from pathlib import Path

import pytest
from hsm_helpers import self_signed_certificate

from hsm_mock import HsmServer

TOOL_VARIABLE = "ATMSIM_PAYSHIELD_PRESSURE_TEST"
DEFAULT_TOOL = Path(__file__).resolve().parents[2] / ".venv-ppt" / "bin" / "payshield-pressuretest"
SUPPORTED = ("--nc", "--no", "--ni", "--pci", "--j2", "--j4", "--j8", "--jk", "--b2",
             "--pingen", "--randgen")
NOT_IMPLEMENTED = (("--key", "2048"), ("--ecc",))
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
            output = await run_tool(tool, hsm.port, option)
            codes = re.findall(r"^Return code: (\S+)", output, re.MULTILINE)
            assert codes == ["00", "00"], (option, output)
            assert "seems unrelated" not in output, (option, output)
            assert "Unexpected issue" not in output and "Traceback" not in output, (
                option, output)
        for options in NOT_IMPLEMENTED:
            output = await run_tool(tool, hsm.port, *options)
            assert re.findall(r"^Return code: (\S+)", output, re.MULTILINE) == ["15", "15"]
            assert "ZZ15" in output
        # The HSM counted the tool's traffic (J4 is among what it sent).
        assert hsm.status.command_counts["NC"] == 2 and hsm.status.command_counts["J4"] == 2


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
