"""docs/architecture.md answers "where is ..." with paths: they must exist, and say what the
document says they do."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOC = (ROOT / "docs" / "architecture.md").read_text()


def test_every_path_the_document_names_exists() -> None:
    paths = set(re.findall(r"`((?:atmsim|atm_switch|hsm_mock|bpjs_ledger|terminal_ui|jmo_portal)/[\w/.]+)`",
                           DOC))
    assert len(paths) >= 10
    missing = sorted(p for p in paths if not (ROOT / p).exists())
    assert not missing, missing


def test_the_four_answers_point_at_the_code_that_does_it() -> None:
    def source(path: str) -> str:
        return (ROOT / path).read_text()

    assert "verify_pin" in source("atm_switch/pin_verification.py")
    assert '"54"' in source("atm_switch/responses.py")
    assert "WRONG_PIN" in source("terminal_ui/flow.py")
    assert "request_balance" in source("atm_switch/ledger_link.py")
