"""The one logging setup masks what must never reach a log, whoever logged it."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import pytest

from atmsim.shell.logs import setup_logging


@pytest.fixture
def log_text() -> Iterator[io.StringIO]:
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    stream = io.StringIO()
    setup_logging("DEBUG", stream=stream)
    yield stream
    for handler in list(root.handlers):
        root.removeHandler(handler)
    for handler in saved[0]:
        root.addHandler(handler)
    root.setLevel(saved[1])


def test_pans_and_url_passwords_are_masked_in_any_logger(log_text: io.StringIO) -> None:
    log = logging.getLogger("some.library")
    log.warning("card %s declined", "5264220000100010")
    log.error("cannot connect to %s", "mqtts://ledger:Zx9-secret_pw@broker.bank:8883/x")
    log.info("db postgresql://atmsim:pw0rd@127.0.0.1:55432/ledger is up")
    text = log_text.getvalue()

    assert "526422******0010" in text and "5264220000100010" not in text
    assert "mqtts://ledger:***@broker.bank:8883/x" in text
    assert "postgresql://atmsim:***@127.0.0.1:55432/ledger" in text
    assert "Zx9-secret_pw" not in text and "pw0rd" not in text
