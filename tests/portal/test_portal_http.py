"""The JMO/SSO portal over real HTTP on loopback, against the real ledger behind a real
broker: registration checked against the ledger, e-mail verification through the mail
sink, login and lockout, the participant's own pages, and what a stranger or a tamperer
gets."""

from __future__ import annotations

import re
import sqlite3
import threading
import urllib.parse

from atmsim.kernel.money import format_rupiah
from bpjs_ledger.store import LedgerStore
from jmo_portal.mail import read_inbox
from tests.portal.conftest import (
    ANDI,
    BUDI,
    DEWI,
    PASSWORD,
    SITI,
    WAYAN,
    RunningPortal,
    birth_date,
    registration,
    start_portal,
)


def ledger_balance(portal: RunningPortal, kpj: str) -> int:
    with LedgerStore(portal.stack.data_dir / "ledger" / "ledger.db", seed_demo=False) as store:
        balance = store.account(kpj).balance_sen
    assert balance is not None
    return balance


def test_a_participant_registers_verifies_logs_in_and_sees_their_own_balance(
        portal: RunningPortal) -> None:
    visitor = portal.visitor()
    created = visitor.post("/daftar", registration(BUDI, "budi@example.id"))
    assert created.status == 201 and "budi@example.id" in created.text

    # not before the e-mail is verified
    early = visitor.post("/masuk", {"login": "budi@example.id", "password": PASSWORD})
    assert early.status == 403 and "belum diverifikasi" in early.text
    link = portal.verification_link("budi@example.id")
    assert visitor.get(link.removeprefix(portal.url)).status == 200
    assert visitor.get(link.removeprefix(portal.url)).status == 400  # single use

    logged_in = visitor.post("/masuk", {"login": BUDI.kpj, "password": PASSWORD})
    assert logged_in.status == 303 and logged_in.location == "/peserta/kartu"
    card = visitor.get("/peserta/kartu")
    assert card.status == 200 and BUDI.kpj in card.text and "Budi Santoso" in card.text
    assert 'id="card-status">AKTIF<' in card.text and "JHT, JKK, JKM, JP, JKP" in card.text

    balance = visitor.get("/peserta/saldo")
    sen = ledger_balance(portal, BUDI.kpj)
    assert balance.status == 200
    assert re.search(r'id="balance">([^<]+)<', balance.text).group(1) == format_rupiah(sen)
    assert balance.text.count("<tr><td>20") == 2026 - 2009 + 1  # one row per year since 2009

    history = visitor.get("/peserta/iuran")
    assert history.status == 200 and "<td>2026-10</td>" in history.text

    pdf = visitor.get("/peserta/saldo.pdf")
    assert pdf.status == 200 and pdf.headers["Content-Type"] == "application/pdf"
    assert pdf.body.startswith(b"%PDF-") and BUDI.kpj.encode() in pdf.body
    assert format_rupiah(sen).encode() in pdf.body


def test_registration_is_refused_when_the_data_do_not_match_the_ledger(
        portal: RunningPortal) -> None:
    visitor = portal.visitor()
    mails_before = len(read_inbox(portal.stack.data_dir))
    wrong_birth = visitor.post("/daftar", registration(SITI, "siti@example.id",
                                                       birth_date="08-07-1990"))
    wrong_name = visitor.post("/daftar", registration(SITI, "siti@example.id", name="Siti"))
    wrong_segment = visitor.post("/daftar", registration(SITI, "siti@example.id", segment="BPU"))
    someone_elses_kpj = visitor.post("/daftar", registration(ANDI, "andi@example.id",
                                                             kpj=WAYAN.kpj))
    for page in (wrong_birth, wrong_name, wrong_segment, someone_elses_kpj):
        assert page.status == 422 and "Data tidak sesuai" in page.text
    assert len(read_inbox(portal.stack.data_dir)) == mails_before
    # nobody got an account: logging in says the same as for a stranger
    assert visitor.post("/masuk", {"login": "siti@example.id",
                                   "password": PASSWORD}).status == 401


def test_a_malformed_registration_names_each_field_to_fix(portal: RunningPortal) -> None:
    page = portal.visitor().post("/daftar", registration(
        DEWI, "not-an-email", nik="5171", kpj="1409990002X", birth_date="31-02-1992",
        password="short", password_confirm="short"))
    assert page.status == 400
    for message in ("NIK harus 16 digit", "KPJ harus 11 digit", "Tanggal lahir tidak valid",
                    "Alamat email tidak valid", "Kata sandi minimal 8 karakter"):
        assert message in page.text
    assert 'value="5171"' in page.text  # what was typed stays, the password does not
    assert "short" not in page.text


def test_one_account_per_kpj(portal: RunningPortal) -> None:
    portal.register(WAYAN, "wayan@example.id")
    again = portal.visitor().post("/daftar", registration(WAYAN, "wayan2@example.id"))
    assert again.status == 409 and "sudah memiliki akun" in again.text


def test_pages_show_only_the_logged_in_participants_data_whatever_the_url_says(
        portal: RunningPortal) -> None:
    siti = portal.register(SITI, "siti.rahayu@example.id")
    budi_kpj = BUDI.kpj
    for path in (f"/peserta/saldo?kpj={budi_kpj}", f"/peserta/iuran?kpj={budi_kpj}",
                 f"/peserta/kartu?kpj={budi_kpj}&nik={BUDI.nik}",
                 f"/peserta/saldo.pdf?kpj={budi_kpj}"):
        page = siti.get(path)
        assert page.status == 200
        assert budi_kpj.encode() not in page.body and b"Budi" not in page.body
        assert SITI.kpj.encode() in page.body
    for path in (f"/peserta/{budi_kpj}/saldo", f"/peserta/saldo/{budi_kpj}",
                 f"/peserta/{budi_kpj}.pdf", "/peserta/../peserta/saldo%3Fkpj%3D" + budi_kpj):
        page = siti.get(path)
        assert page.status == 404 and budi_kpj not in page.text


def test_a_session_ends_for_good_at_logout_and_a_copied_cookie_dies_with_it(
        portal: RunningPortal) -> None:
    andi = portal.register(ANDI, "andi.w@example.id")
    stolen = andi.cookie("jmo_session")
    assert stolen
    thief = portal.visitor()
    thief.jar.set_cookie(next(c for c in andi.jar if c.name == "jmo_session"))
    assert thief.get("/peserta/kartu").status == 200  # a live session is a live session...

    out = andi.post("/keluar", {"csrf": andi.csrf("/keluar")})
    assert out.status == 303
    for visitor in (andi, thief):
        page = visitor.get("/peserta/saldo")
        assert page.status == 303 and page.location.startswith("/masuk")
    forged = portal.visitor()
    forged.opener.addheaders = [("Cookie", "jmo_session=" + "A" * 43)]
    assert forged.get("/peserta/kartu").status == 303


def test_logout_without_the_sessions_csrf_token_does_not_end_it(portal: RunningPortal) -> None:
    dewi = portal.register(DEWI, "dewi@example.id")
    assert 'id="card-status">NONAKTIF<' in dewi.get("/peserta/kartu").text
    session = next(c for c in dewi.jar if c.name == "jmo_session")
    dewi.post("/keluar", {"csrf": "guessed"})  # a forged logout (cross-site, say)
    again = portal.visitor()
    again.jar.set_cookie(session)
    assert again.get("/peserta/kartu").status == 200  # the session lives on


def test_five_wrong_passwords_lock_the_account_even_against_the_right_one(
        tmp_path, portal: RunningPortal) -> None:
    # an account of its own, on a portal of its own, so the lock does not touch other tests
    stack = portal.stack
    own = start_portal(stack, tmp_path)
    try:
        own_portal = RunningPortal(stack, own)
        email = "budi.lock@example.id"
        own_portal.register(BUDI, email)
        visitor = own_portal.visitor()
        answers = [visitor.post("/masuk", {"login": email, "password": f"salah{i}00"})
                   for i in range(5)]
        assert [a.status for a in answers] == [401, 401, 401, 401, 423]
        assert "Sisa percobaan / tries left: 1" in answers[3].text
        assert "terkunci" in answers[4].text
        right = visitor.post("/masuk", {"login": email, "password": PASSWORD})
        assert right.status == 423 and visitor.cookie("jmo_session") is None
    finally:
        stack.call(own.__aexit__(None, None, None))


def test_a_burst_of_concurrent_guesses_gets_five_checks_in_all(
        tmp_path, portal: RunningPortal) -> None:
    stack = portal.stack
    own = start_portal(stack, tmp_path)
    try:
        own_portal = RunningPortal(stack, own)
        email = "siti.burst@example.id"
        own_portal.register(SITI, email)
        visitors = [own_portal.visitor() for _ in range(30)]
        tokens = [v.csrf("/masuk") for v in visitors]
        statuses: list[int] = []
        start = threading.Barrier(len(visitors))

        def guess(i: int) -> None:
            start.wait()
            password = PASSWORD if i == 29 else f"tebak{i}xx"
            statuses.append(visitors[i].post("/masuk", {"csrf": tokens[i], "login": email,
                                                        "password": password}).status)

        threads = [threading.Thread(target=guess, args=(i,)) for i in range(30)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        wrong = statuses.count(401) + statuses.count(423)
        assert len(statuses) == 30 and statuses.count(303) <= 1
        # at most five passwords were checked and found wrong: the rest were refused unchecked
        assert statuses.count(401) <= 4 and wrong >= 29
        page = own_portal.visitor().post("/masuk", {"login": email, "password": PASSWORD})
        assert page.status in (303, 423)
    finally:
        stack.call(own.__aexit__(None, None, None))


def test_cek_kepesertaan_answers_the_kpj_only_for_the_whole_identity(
        portal: RunningPortal) -> None:
    visitor = portal.visitor()
    right = visitor.post("/cek-kepesertaan", {"nik": WAYAN.nik, "name": "wayan sudarma",
                                              "birth_date": birth_date(WAYAN.nik)})
    wrong = visitor.post("/cek-kepesertaan", {"nik": WAYAN.nik, "name": "Wayan",
                                              "birth_date": birth_date(WAYAN.nik)})
    malformed = visitor.post("/cek-kepesertaan", {"nik": "5103", "name": "",
                                                  "birth_date": "1970"})
    assert right.status == 200 and f'id="kpj">{WAYAN.kpj}<' in right.text
    assert wrong.status == 404 and WAYAN.kpj not in wrong.text
    assert "Data tidak ditemukan" in wrong.text
    assert malformed.status == 400 and "NIK harus 16 digit" in malformed.text


def test_cek_kepesertaan_is_rate_limited_per_address(tmp_path, portal: RunningPortal) -> None:
    stack = portal.stack
    own = start_portal(stack, tmp_path, limits=None)  # the shipped limits
    try:
        visitor = RunningPortal(stack, own).visitor()
        statuses = [visitor.post("/cek-kepesertaan", {
            "nik": WAYAN.nik, "name": f"Wayan {i}", "birth_date": birth_date(WAYAN.nik)}).status
            for i in range(12)]
        assert statuses == [404] * 10 + [429, 429]
    finally:
        stack.call(own.__aexit__(None, None, None))


def test_hostile_requests_get_clear_answers_and_the_portal_stays_up(
        portal: RunningPortal) -> None:
    visitor = portal.visitor()
    no_csrf = visitor.post("/masuk", {"login": "x", "password": "y"}, csrf=False)
    huge = visitor.post("/masuk", {}, csrf=False, raw=b"login=" + b"A" * 20_000)
    sqlish = visitor.post("/masuk", {"login": "' OR 1=1 --", "password": "' OR '1'='1"})
    garbage = visitor.post("/daftar", {}, csrf=False, raw=b"\xff\xfe%%%=&&=")
    name_sql = visitor.post("/daftar", registration(
        DEWI, "dewi.sql@example.id", name="Robert'); DROP TABLE accounts;--"))
    assert no_csrf.status == 403
    assert huge.status == 413
    assert sqlish.status == 401 and "salah" in sqlish.text
    assert garbage.status in (400, 403)
    assert name_sql.status == 422
    assert visitor.get("/sehat").status == 200
    assert visitor.get("/masuk").headers["X-Frame-Options"] == "DENY"
    with sqlite3.connect(portal.portal.db) as db:  # the accounts table is still there
        names = [row[0] for row in db.execute("SELECT name FROM accounts")]
    assert names and not any("DROP" in name for name in names)


def test_no_page_or_mail_or_log_line_holds_a_password(portal: RunningPortal, caplog) -> None:
    visitor = portal.visitor()
    password = "SangatRahasia987"
    visitor.post("/daftar", registration(ANDI, "andi.secret@example.id", password,
                                         nik="3578031203880004"))
    for mail in read_inbox(portal.stack.data_dir):
        assert password not in mail.body
    db = (portal.stack.data_dir / "portal" / "portal.db").read_bytes()
    assert password.encode() not in db
    assert password not in caplog.text
    assert urllib.parse.quote(password) not in caplog.text


def test_each_page_a_participant_uses_is_an_event_with_a_masked_kpj(
        tmp_path, portal: RunningPortal) -> None:
    import asyncio
    import json

    import aiomqtt

    broker = portal.stack.stack.broker
    assert broker is not None
    monitor = broker.endpoint_for("monitor")
    own = start_portal(portal.stack, tmp_path)  # an account of its own for Andi
    mine = RunningPortal(portal.stack, own)

    async def watch() -> list[dict]:
        async with aiomqtt.Client(monitor.host, monitor.port, username=monitor.username,
                                  password=monitor.password) as client:
            await client.subscribe("atmsim/v1/events/portal", qos=1)
            seen = asyncio.ensure_future(_collect(client, 4))
            await asyncio.to_thread(_use_portal, mine, "andi.events@example.id")
            return await asyncio.wait_for(seen, 10)

    try:
        events = asyncio.run(watch())
    finally:
        portal.stack.call(own.__aexit__(None, None, None))
    kinds = [e["kind"] for e in events]
    assert kinds == ["register", "verify_email", "login", "balance"], kinds
    assert all(e["channel"] == "JMO" for e in events)
    assert events[-1]["kpj"] == ANDI.kpj[:6] + "****" + ANDI.kpj[-1]
    text = json.dumps(events)
    assert ANDI.nik not in text and ANDI.kpj not in text and "Andi" not in text


async def _collect(client, count: int) -> list[dict]:
    import json

    got = []
    async for message in client.messages:
        got.append(json.loads(message.payload))
        if len(got) == count:
            break
    return got


def _use_portal(portal: RunningPortal, email: str) -> None:
    visitor = portal.visitor()
    assert visitor.post("/daftar", registration(ANDI, email)).status == 201
    visitor.get(portal.verification_link(email).removeprefix(portal.url))
    visitor.post("/masuk", {"login": email, "password": PASSWORD})
    visitor.get("/peserta/saldo")


def test_a_silent_or_failing_ledger_is_a_clear_page_not_an_error_trace(
        tmp_path, portal: RunningPortal, caplog) -> None:
    own = start_portal(portal.stack, tmp_path, ledger_timeout=0.5)
    try:
        mine = RunningPortal(portal.stack, own)
        budi = mine.register(BUDI, "budi.silent@example.id")
        portal.stack.set_rules({"rules": [
            {"match": {"type": "statement", "channel": "JMO"}, "action": "no_reply"},
            {"match": {"type": "contributions"}, "error": "internal error: disk full"}]},
            "ledger")
        silent = budi.get("/peserta/saldo")
        failing = budi.get("/peserta/iuran")
        pdf = budi.get("/peserta/saldo.pdf")
        for page in (silent, failing):
            assert page.status == 503 and "Layanan sedang tidak tersedia" in page.text
            assert "Traceback" not in page.text and "disk full" not in page.text
        assert pdf.status == 503
        # the operator is told, by the page and by the PDF alike
        said = [r.getMessage() for r in caplog.records if "ledger unavailable" in r.getMessage()]
        assert [m.split(":")[0] for m in said] == ["statement", "contributions",
                                                   "statement pdf"]
        portal.stack.clear_rules()
        assert budi.get("/peserta/saldo").status == 200  # and back when the ledger is
    finally:
        portal.stack.clear_rules()
        portal.stack.call(own.__aexit__(None, None, None))
