"""The pytest plugin as its users get it: a fresh project with one test file and no
conftest passes with the fixtures; in our own suite the fixtures work too; loading the
plugin (which every pytest run where atmsim is installed does) imports nothing heavy."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from atmsim.testing.harness import AtmClient, HsmClient, LedgerClient, RunningStack

USERS_TEST = '''\
async def test_budi_sees_his_balance(atm, ledger):
    result = await atm.inquire("5264220000100010", "123456")
    assert result.approved and result.kpj == "10012345678"
    reply = await ledger.balance("3171011505850001")
    assert reply["balance_sen"] == result.balance_sen


async def test_a_wrong_pin_is_declined(atm, hsm):
    assert (await atm.inquire("5264220000100010", "000000")).response_code == "55"
    assert (await hsm.command("NC")).error == "00"
'''


def run_pytest(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    # Entry-point autoloading off: the run shows that -p atmsim (the entry point's name)
    # is all a project needs, with pytest-asyncio for its async tests.
    env = {**os.environ, "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           "-p", "atmsim", "-p", "asyncio", "-o", "asyncio_mode=auto", *args],
                          cwd=project, env=env, capture_output=True, text=True, timeout=120)


def test_a_fresh_project_with_a_ten_line_test_file_passes(tmp_path: Path) -> None:
    (tmp_path / "test_bank.py").write_text(USERS_TEST)
    assert len(USERS_TEST.strip().splitlines()) == 10
    done = run_pytest(tmp_path, "test_bank.py")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "2 passed" in done.stdout


def test_a_users_wrong_expectation_fails_there(tmp_path: Path) -> None:
    (tmp_path / "test_wrong.py").write_text(
        'async def test_x(atm):\n'
        '    assert (await atm.inquire("5264220000100051", "135790")).response_code == "00"\n')
    done = run_pytest(tmp_path, "test_wrong.py")
    assert done.returncode == 1
    assert "1 failed" in done.stdout and "'25' == '00'" in done.stdout


def test_loading_the_plugin_imports_no_stack() -> None:
    code = ("import sys, atmsim.testing.plugin; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in "
            "('atm_switch', 'hsm_mock', 'bpjs_ledger', 'terminal_ui', 'textual') "
            "or m.startswith('atmsim.shell')))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True)
    assert done.stdout.strip() == "[]"


async def test_the_fixtures_in_our_own_suite(atmsim_stack: RunningStack, atm: AtmClient,
                                             hsm: HsmClient, ledger: LedgerClient) -> None:
    atmsim_stack.issue_card("5264220000900033", "777777")
    result = await atm.inquire("5264220000900033", "777777")
    assert result.approved and result.kpj == "10012345678" and result.balance_sen
    assert (await atm.inquire("5264220000100036", "112233", kpj="10012345678")
            ).response_code == "57"
    assert (await atm.echo())["39"] == "00"
    reply = await hsm.command("B2", "0003abc")
    assert (reply.response, reply.error, reply.data) == ("B3", "00", "abc")
    assert (await ledger.balance("6471052212800005"))["result"] == "NOT_FOUND"
    assert atmsim_stack.data_dir.is_dir() and atmsim_stack.start_seconds > 0


def test_certify_issuer_with_the_data_directorys_own_account(
        atmsim_stack: RunningStack, capsys: pytest.CaptureFixture[str]) -> None:
    # A sync test: the stack runs in its own thread, the command on this one. The URL names
    # no account: the data directory's switch account is used.
    from atmsim.shell.cli import main

    port = atmsim_stack.stack.settings.mqtt.port
    assert main(["certify", "--role", "issuer", f"127.0.0.1:{port}",
                 "--data-dir", str(atmsim_stack.data_dir)]) == 0
    assert "1 passed, 0 failed, 0 errors, 1 skipped" in capsys.readouterr().out


def test_the_examples_of_docs_testing_md_pass_as_a_users_project(tmp_path: Path) -> None:
    text = (Path(__file__).resolve().parents[2] / "docs" / "testing.md").read_text()
    blocks = [b.split("```", 1)[0] for b in text.split("```python\n")[1:]]
    tests = [b for b in blocks if "def test_" in b]
    assert len(tests) >= 3
    (tmp_path / "test_docs.py").write_text(
        "import pytest\nfrom atmsim import HostTimeout\n\n\n" + "\n\n".join(tests))
    done = run_pytest(tmp_path, "test_docs.py")
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"{len(tests)} passed" in done.stdout
