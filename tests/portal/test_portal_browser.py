"""The portal in a real browser: the system's Chromium (Debian's ``chromium``) driven by
Playwright, as a participant uses it — register, open the verification mail's link, log
in, Cek Saldo JHT; the lockout; and that another participant's data cannot be reached by
editing the address or by reusing a session after logout.

Skipped without /usr/bin/chromium, unless ATMSIM_REQUIRE_CHROMIUM=1 (``.ci/run``), which
makes its absence a failure."""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator

import pytest

from atmsim.kernel.money import format_rupiah
from bpjs_ledger.store import LedgerStore
from tests.portal.conftest import BUDI, PASSWORD, SITI, RunningPortal, birth_date

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# the flags a headless Chromium needs on a closed, root-run machine
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    if not os.path.exists(CHROMIUM):
        if os.environ.get("ATMSIM_REQUIRE_CHROMIUM") == "1":
            pytest.fail("ATMSIM_REQUIRE_CHROMIUM=1 but no chromium on this machine")
        pytest.skip("no chromium on this machine (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


def register_in_browser(page, portal: RunningPortal, who, email: str) -> None:
    page.goto(portal.url + "/daftar")
    page.fill("#nik", who.nik)
    page.fill("#kpj", who.kpj)
    page.fill("#name", who.name.upper())  # as people type it
    page.fill("#birth_date", birth_date(who.nik))
    page.select_option("#segment", who.segment)
    page.fill("#email", email)
    page.fill("#password", PASSWORD)
    page.fill("#password_confirm", PASSWORD)
    page.click("#submit")
    assert email in page.inner_text("#check-mail")
    page.goto(portal.verification_link(email))
    assert page.inner_text("#verified").startswith("Email terverifikasi")


def log_in(page, portal: RunningPortal, login: str, password: str = PASSWORD) -> None:
    page.goto(portal.url + "/masuk")
    page.fill("#login", login)
    page.fill("#password", password)
    page.click("#submit")


def test_register_verify_log_in_and_check_the_jht_balance(browser, portal: RunningPortal
                                                          ) -> None:
    context = browser.new_context()
    page = context.new_page()
    register_in_browser(page, portal, BUDI, "budi.browser@example.id")
    log_in(page, portal, "budi.browser@example.id")
    assert page.url.endswith("/peserta/kartu")
    assert page.inner_text("#card-kpj") == BUDI.kpj
    page.click("text=Cek Saldo JHT >> nth=0")
    with LedgerStore(portal.stack.data_dir / "ledger" / "ledger.db", seed_demo=False) as store:
        sen = store.account(BUDI.kpj).balance_sen
    assert page.inner_text("#balance") == format_rupiah(sen)
    rows = page.locator("#statement tbody tr")
    assert rows.count() == 2026 - 2009 + 1
    with page.expect_download() as download:
        page.click("#pdf")
    assert download.value.suggested_filename == f"saldo-jht-{BUDI.kpj}.pdf"
    context.close()


def test_lockout_after_five_wrong_passwords_in_the_browser(browser, portal: RunningPortal
                                                           ) -> None:
    from tests.portal.conftest import start_portal

    own = start_portal(portal.stack, portal.stack.data_dir / "lockout")
    try:
        mine = RunningPortal(portal.stack, own)
        mine.register(SITI, "siti.lock@example.id")
        page = browser.new_context().new_page()
        for attempt in range(5):
            log_in(page, mine, "siti.lock@example.id", f"salah{attempt}99")
        assert "terkunci" in page.inner_text("[role=alert]")
        log_in(page, mine, "siti.lock@example.id")
        assert "terkunci" in page.inner_text("[role=alert]")
        assert not page.url.endswith("/peserta/kartu")
    finally:
        portal.stack.call(own.__aexit__(None, None, None))


def test_no_address_and_no_old_session_reaches_another_participants_data(
        browser, portal: RunningPortal) -> None:
    siti = browser.new_context()
    page = siti.new_page()
    register_in_browser(page, portal, SITI, "siti.browser@example.id")
    log_in(page, portal, "siti.browser@example.id")
    for path in (f"/peserta/saldo?kpj={BUDI.kpj}", f"/peserta/iuran?nik={BUDI.nik}",
                 f"/peserta/{BUDI.kpj}/saldo", f"/peserta/saldo/{BUDI.kpj}"):
        page.goto(portal.url + path)
        text = page.content()
        assert BUDI.kpj not in text and "Budi" not in text
    cookies = siti.cookies()
    page.goto(portal.url + "/peserta/kartu")
    page.click("#logout")
    assert page.url.endswith("/masuk")

    replay = browser.new_context()
    replay.add_cookies(cookies)  # the session cookie of before the logout
    other = replay.new_page()
    other.goto(portal.url + "/peserta/saldo")
    assert other.url.endswith("/masuk?habis=1")
    assert re.search(r"Sesi Anda telah berakhir", other.content())
    siti.close()
    replay.close()
