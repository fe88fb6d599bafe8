"""The README's test command (``pytest -q``) runs the examples in the packages' docstrings.

pyproject's ``[tool.pytest.ini_options]`` adds ``--doctest-modules`` and lists the
packages as test paths; these tests hold both: every module with an example is
collected, and an example that no longer holds fails the run.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("atmsim", "atm_switch", "hsm_mock", "bpjs_ledger", "terminal_ui")


def _pytest(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args],
                          cwd=cwd, capture_output=True, text=True, timeout=120)


def _modules_with_examples() -> set[str]:
    found = set()
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            if path.name != "__main__.py" and ">>> " in path.read_text(encoding="utf-8"):
                found.add(path.relative_to(ROOT).as_posix())
    return found


def test_the_readme_command_collects_every_module_with_an_example() -> None:
    wanted = _modules_with_examples()
    assert "atmsim/kernel/mqtt.py" in wanted  # the scan itself sees examples
    run = _pytest("--collect-only", "-q")
    assert run.returncode == 0, run.stdout + run.stderr
    collected = {line.split("::", 1)[0] for line in run.stdout.splitlines() if "::" in line}
    assert wanted - collected == set()


def test_a_wrong_example_fails_the_run(tmp_path: Path) -> None:
    module = tmp_path / "wrong_example.py"
    module.write_text('def double(x: int) -> int:\n    """>>> double(2)\n    5\n    """\n'
                      "    return 2 * x\n")
    # The project's own configuration, applied to a module outside the tree.
    run = _pytest("-q", "-c", str(ROOT / "pyproject.toml"), "--rootdir", str(tmp_path),
                  str(module), cwd=tmp_path)
    assert run.returncode == 1, run.stdout + run.stderr
    assert "wrong_example.double" in run.stdout
    assert "1 failed" in run.stdout


def test_test_folders_with_a_conftest_of_their_own_collect_together() -> None:
    run = _pytest("--collect-only", "-q", "tests/hsm", "tests/ledger")
    assert run.returncode == 0, run.stdout + run.stderr
