"""The code as CI sees it: ruff and mypy clean, and the layers held by import-linter
(shell -> components -> kernel; components independent; the ATM device without a screen).

They run inside the test suite because CI runs exactly the README's test command.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ["atmsim", "atm_switch", "hsm_mock", "bpjs_ledger", "terminal_ui", "jmo_portal",
            "atm_monitor", "whatsapp_bot", "whatsapp_sim"]


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=300, check=False)


def test_ruff_finds_nothing() -> None:
    pytest.importorskip("ruff")
    result = _run("ruff", "check", ".")
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy_finds_nothing() -> None:
    pytest.importorskip("mypy")
    result = _run("mypy", *PACKAGES)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_layers_hold() -> None:
    pytest.importorskip("importlinter")
    result = subprocess.run([str(Path(sys.executable).with_name("lint-imports"))], cwd=ROOT,
                            capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
