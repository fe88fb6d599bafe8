"""A user's-eye run of the plugin: a fresh virtual environment (no site packages of ours)
with only ``pip install <this project> pytest-asyncio``, a project of one ten-line test
file, and plain ``pytest``: the fixtures arrive through the ``pytest11`` entry point.

Slow (a whole install, about a minute): runs only with ``ATMSIM_SLOW_TESTS=1``. pip uses
the machine's own configuration (index, wheel cache, find-links)."""

from __future__ import annotations

import os
import subprocess
import sys
import venv
from pathlib import Path

import pytest

from tests.testing.test_plugin import USERS_TEST

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.skipif(os.environ.get("ATMSIM_SLOW_TESTS") != "1",
                                reason="installs atmsim into a fresh venv: ATMSIM_SLOW_TESTS=1")


@pytest.mark.timeout(900)
def test_pip_install_and_plain_pytest_in_a_fresh_project(tmp_path: Path) -> None:
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True, system_site_packages=False)
    python = env_dir / "bin" / "python"
    subprocess.run([python, "-m", "pip", "install", "-q", str(ROOT), "pytest",
                    "pytest-asyncio"], check=True, timeout=800)
    project = tmp_path / "bank-tests"
    project.mkdir()
    (project / "test_bank.py").write_text(USERS_TEST)
    (project / "pytest.ini").write_text("[pytest]\nasyncio_mode = auto\n")
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "PYTEST_DISABLE_PLUGIN_AUTOLOAD", "PYTEST_ADDOPTS")}
    done = subprocess.run([env_dir / "bin" / "pytest", "-q", "-p", "no:cacheprovider"],
                          cwd=project, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "2 passed" in done.stdout
    # The project's pytest is the venv's, and atmsim came from pip, not from this tree.
    where = subprocess.run([python, "-c", "import atmsim; print(atmsim.__file__)"],
                           capture_output=True, text=True, check=True, cwd=project, env=env)
    assert str(env_dir) in where.stdout
    assert sys.prefix not in where.stdout
