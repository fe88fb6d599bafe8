"""The WhatsApp channel end to end: signed webhooks over real HTTP on 127.0.0.1 to the
bot, the bot asking the ledger over a real broker, its replies arriving at the simulated
Graph API in the Cloud API's shapes."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import httpx
import orjson
import pytest

from atmsim.kernel.bus import MqttBus
from atmsim.shell.stack import Stack
from atmsim.shell.whatsapp_cli import WhatsappStack
from tests.whatsapp.conftest import KEYS, PHONE_NUMBER_ID, choice_ids, text_of
from whatsapp_sim.phone import Phone, delivery, signature, text_message

pytestmark = pytest.mark.asyncio(loop_scope="module")

BUDI = {"nik": "3171011505850001", "kpj": "10012345678", "birth": "15-05-1985"}
SITI = {"nik": "3273024708900002", "kpj": "12087654321", "birth": "07-08-1990"}
DEWI = {"nik": "5171026110920004", "kpj": "14099900022", "birth": "21-10-1992"}


class Chat:
    """One user's side: send, then read the replies that came since."""

    def __init__(self, phone: Phone, whatsapp: WhatsappStack) -> None:
        self.phone, self.outbox, self.seen = phone, whatsapp.outbox, 0

    async def _new(self, response: httpx.Response) -> list[dict[str, Any]]:
        assert response.status_code == 200, response.text
        # The webhook answers after the turn: every reply is in the outbox already.
        sent = self.outbox.of(self.phone.wa_id)[self.seen:]
        self.seen += len(sent)
        return [m.body for m in sent]

    async def say(self, text: str) -> list[dict[str, Any]]:
        return await self._new(await self.phone.say(text))

    async def pick(self, choice: str) -> list[dict[str, Any]]:
        return await self._new(await self.phone.pick(choice))


@pytest.fixture
def chat(phone: Callable[[str], Phone], whatsapp: WhatsappStack) -> Callable[[str], Chat]:
    return lambda wa_id: Chat(phone(wa_id), whatsapp)


async def test_the_menu_lists_the_five_services_in_a_cloud_api_list(chat) -> None:
    replies = await chat("6281200000101").say("halo")

    assert len(replies) == 1
    menu = replies[0]
    assert menu["messaging_product"] == "whatsapp" and menu["to"] == "6281200000101"
    assert menu["type"] == "interactive" and menu["interactive"]["type"] == "list"
    assert choice_ids(menu) == ["m_member", "m_claim", "m_channels", "m_complaint", "m_bsu",
                                "m_lang"]
    assert "Selamat datang" in text_of(menu)


async def test_membership_after_nik_and_birth_date(chat) -> None:
    c = chat("6281200000102")
    await c.say("menu")
    assert "NIK" in text_of((await c.pick("m_member"))[0])
    assert "tanggal lahir" in text_of((await c.say(BUDI["nik"]))[0])
    replies = await c.say(BUDI["birth"])

    info = text_of(replies[0])
    assert "B**i S*****o" in info and "100123****8" in info
    assert "Status: AKTIF" in info and "PU (Penerima Upah)" in info
    assert "JHT, JKK, JKM, JP, JKP" in info and "PT SINAR JAYA ABADI" in info
    assert "Rp" not in info  # no balance on WhatsApp
    assert choice_ids(replies[1]) == ["menu", "done"]


async def test_membership_by_kpj_shows_an_inactive_member(chat) -> None:
    c = chat("6281200000103")
    await c.pick("m_member")
    await c.say(DEWI["nik"])
    info = text_of((await c.say(DEWI["kpj"]))[0])
    assert "NONAKTIF" in info and "Nonaktif sejak: 31-08-2022" in info


async def test_someone_else_s_data_is_never_shown(chat) -> None:
    c = chat("6281200000104")
    await c.pick("m_member")
    await c.say(BUDI["nik"])
    replies = await c.say(SITI["kpj"])  # Budi's NIK with Siti's KPJ
    assert "tidak cocok" in text_of(replies[0])
    assert "Siti" not in str(replies) and "S**i" not in str(replies)
    await c.pick("retry")
    await c.say(BUDI["nik"])
    replies = await c.say(SITI["birth"])  # and with Siti's birth date
    assert "tidak cocok" in text_of(replies[0])
    await c.pick("retry")
    await c.say(BUDI["nik"])
    replies = await c.say("01-01-1980")  # the third failure locks verification
    assert "3 kali" in text_of(replies[0])
    await c.pick("m_member")
    assert "3 kali" in text_of((await c.pick("m_member"))[0])


async def test_sql_ish_input_is_only_ever_text(chat, whatsapp: WhatsappStack) -> None:
    c = chat("6281200000105")
    await c.pick("m_member")
    replies = await c.say("1' OR '1'='1")
    assert "16 digit" in text_of(replies[0])
    replies = await c.say("3171011505850001; DROP TABLE participants")
    assert "16 digit" in text_of(replies[0])
    await c.say(BUDI["nik"])
    replies = await c.say("15-05-1985' --")
    assert "Format tidak dikenali" in text_of(replies[0])
    # The ledger still answers.
    assert "B**i" in text_of((await c.say(BUDI["birth"]))[0])


async def test_balance_questions_point_to_jmo_sms_and_atm(chat) -> None:
    text = text_of((await chat("6281200000106").say("berapa saldo JHT saya?"))[0])
    assert "JMO" in text and "2757" in text and "ATM" in text
    assert "Rp" not in text


async def test_claim_and_channel_information(chat) -> None:
    c = chat("6281200000107")
    claim = text_of((await c.pick("m_claim"))[0])
    assert "56 tahun" in claim and "10%" in claim and "30%" in claim
    channels = text_of((await c.pick("m_channels"))[0])
    assert "SMS 2757" in channels and "ATM BNI" in channels and "0813-8007-0175" in channels


async def test_bsu_candidacy_from_the_ledger(chat) -> None:
    c = chat("6281200000108")
    listed = (await c.pick("m_bsu"))[0]
    assert choice_ids(listed) == ["bsu_2025", "bsu_2022", "bsu_2021", "bsu_2020"]
    await c.pick("bsu_2020")
    await c.say(SITI["nik"])
    yes = text_of((await c.say(SITI["birth"]))[0])
    assert "MEMENUHI" in yes and "06-2020" in yes
    # Verified once in the session: the next programme is answered at once.
    await c.pick("m_bsu")
    no = text_of((await c.pick("bsu_2022"))[0])
    assert "TIDAK memenuhi" in no and "upah yang dilaporkan di atas batas" in no

    d = chat("6281200000109")
    await d.pick("m_bsu")
    await d.pick("bsu_2025")
    await d.say(DEWI["nik"])
    inactive = text_of((await d.say(DEWI["kpj"]))[0])
    assert "tidak tercatat aktif" in inactive and "04-2025" in inactive


async def test_english(chat) -> None:
    c = chat("6281200000110")
    menu = (await c.say("english"))[0]
    assert "Welcome" in text_of(menu) and menu["interactive"]["action"]["button"] == \
        "Choose a service"
    assert "NIK" in text_of((await c.pick("m_member"))[0])
    await c.say(BUDI["nik"])
    info = text_of((await c.say(BUDI["birth"]))[0])
    assert "MEMBERSHIP INFORMATION" in info and "JMO" in info


async def test_a_complaint_gets_a_ticket_stored_in_the_ledger(chat, backend: Stack) -> None:
    c = chat("6281200000111")
    cats = (await c.pick("m_complaint"))[0]
    assert choice_ids(cats) == ["cat_KEPESERTAAN", "cat_KLAIM", "cat_IURAN", "cat_LAYANAN",
                                "cat_LAINNYA"]
    await c.pick("cat_KLAIM")
    wording = "Klaim JHT saya belum cair'); DROP TABLE complaints;-- 100% \"urgent\""
    asked = await c.say(wording)
    assert choice_ids(asked[0]) == ["skip"]
    confirm = (await c.say(BUDI["nik"]))[0]
    assert choice_ids(confirm) == ["send", "cancel"] and wording in text_of(confirm)
    filed = text_of((await c.pick("send"))[0])
    ticket = filed.split("nomor tiket ")[1].split(".")[0]
    assert ticket.startswith("PGD-")

    from bpjs_ledger.store import LedgerStore

    assert backend.ledger_target is not None
    with LedgerStore(backend.ledger_target, seed_demo=False) as store:
        row = store.db.query_one("SELECT channel, contact, nik, kpj, category, body FROM "
                                 "complaints WHERE ticket = ?", (ticket,))
    assert row == ("whatsapp", "6281200000111", BUDI["nik"], None, "KLAIM", wording)


async def test_unknown_message_types_get_a_polite_answer(whatsapp: WhatsappStack) -> None:
    phone = Phone(whatsapp.webhook_url, "6281200000112", app_secret=KEYS.app_secret,
                  phone_number_id=PHONE_NUMBER_ID)
    message = {"from": "6281200000112", "id": "wamid.sticker1", "timestamp": "1",
               "type": "sticker", "sticker": {"id": "1", "mime_type": "image/webp"}}
    response = await phone.post(message)
    assert response.status_code == 200
    sent = whatsapp.outbox.of("6281200000112")
    assert len(sent) == 1 and "hanya dapat membaca pesan teks" in text_of(sent[0].body)
    await phone.close()


async def test_a_delivery_sent_twice_is_answered_once(whatsapp: WhatsappStack) -> None:
    phone = Phone(whatsapp.webhook_url, "6281200000113", app_secret=KEYS.app_secret,
                  phone_number_id=PHONE_NUMBER_ID)
    message = text_message("6281200000113", "menu")
    first = await phone.post(message)
    again = await asyncio.gather(*(phone.post(message) for _ in range(3)))
    assert first.status_code == 200 and all(r.status_code == 200 for r in again)
    assert len(whatsapp.outbox.of("6281200000113")) == 1
    await phone.close()


async def test_signatures_sizes_and_json_are_checked(whatsapp: WhatsappStack) -> None:
    phone = Phone(whatsapp.webhook_url, "6281200000114", app_secret=KEYS.app_secret,
                  phone_number_id=PHONE_NUMBER_ID)
    body = orjson.dumps(delivery([text_message("6281200000114", "menu")],
                                 phone_number_id=PHONE_NUMBER_ID))
    assert (await phone.post_raw(body, None)).status_code == 401
    assert (await phone.post_raw(body, signature(body, "another-secret"))).status_code == 403
    assert (await phone.post_raw(body, "sha256=00")).status_code == 403
    tampered = body.replace(b"menu", b"MENU")
    assert (await phone.post_raw(tampered, signature(body, KEYS.app_secret))).status_code == 403
    big = b'{"object": "whatsapp_business_account", "pad": "' + b"x" * 70_000 + b'"}'
    assert (await phone.post_raw(big, signature(big, KEYS.app_secret))).status_code == 413
    for junk in (b"{not json", b'{"object": "page"}', b'[1, 2]',
                 b'{"object": "whatsapp_business_account", "entry": "x"}'):
        assert (await phone.post_raw(junk, signature(junk, KEYS.app_secret))).status_code == 400
    assert whatsapp.outbox.of("6281200000114") == []  # nothing was processed
    assert (await phone.post_raw(body, signature(body, KEYS.app_secret))).status_code == 200
    assert len(whatsapp.outbox.of("6281200000114")) == 1
    await phone.close()


async def test_the_verification_handshake(whatsapp: WhatsappStack) -> None:
    async with httpx.AsyncClient() as client:
        good = await client.get(whatsapp.webhook_url, params={
            "hub.mode": "subscribe", "hub.verify_token": KEYS.verify_token,
            "hub.challenge": "1158201444"})
        bad = await client.get(whatsapp.webhook_url, params={
            "hub.mode": "subscribe", "hub.verify_token": "guess", "hub.challenge": "1"})
        missing = await client.get(whatsapp.webhook_url, params={"hub.mode": "subscribe"})
    assert (good.status_code, good.text) == (200, "1158201444")
    assert bad.status_code == 403 and missing.status_code == 400


async def test_the_graph_api_needs_the_bearer_token(whatsapp: WhatsappStack) -> None:
    url = f"{whatsapp.graph_url}/v21.0/{PHONE_NUMBER_ID}/messages"
    message = {"messaging_product": "whatsapp", "to": "6281200000115", "type": "text",
               "text": {"body": "halo"}}
    async with httpx.AsyncClient() as client:
        none = await client.post(url, json=message)
        wrong = await client.post(url, json=message, headers={"Authorization": "Bearer x"})
        good = await client.post(url, json=message,
                                 headers={"Authorization": f"Bearer {KEYS.access_token}"})
        too_long = await client.post(url, json={**message, "text": {"body": "x" * 4097}},
                                     headers={"Authorization": f"Bearer {KEYS.access_token}"})
    assert none.status_code == wrong.status_code == 401
    assert none.json()["error"]["code"] == 190
    assert good.status_code == 200 and good.json()["messages"][0]["id"].startswith("wamid.")
    assert too_long.status_code == 400 and too_long.json()["error"]["code"] == 100


async def test_each_step_is_a_masked_event(chat, backend: Stack) -> None:
    assert backend.broker is not None
    events: list[dict[str, Any]] = []
    async with MqttBus(backend.broker.endpoint_for("monitor"), "wa-monitor") as bus:
        assert await bus.wait_connected(10)
        got = asyncio.Event()

        async def seen(body: dict[str, Any]) -> None:
            events.append(body)
            if len(events) >= 3:
                got.set()

        bus.serve("atmsim/v1/events/whatsapp", seen)  # type: ignore[arg-type]
        await asyncio.sleep(0.5)
        c = chat("6281200000116")
        await c.pick("m_member")
        await c.say(BUDI["nik"])
        await c.say(BUDI["birth"])
        await asyncio.wait_for(got.wait(), 5)
    text = orjson.dumps(events).decode()
    assert BUDI["nik"] not in text and "1985" not in text and "6281200000116" not in text
    assert events[-1]["ledger"] == {"kind": "membership", "result": "OK"}
    assert events[-1]["wa_id"] == "62812*****116" and events[-1]["channel"] == "whatsapp"


async def test_too_many_messages_are_refused_politely(backend: Stack) -> None:
    from tests.whatsapp.conftest import start_whatsapp

    limited = await start_whatsapp(backend, rate_per_minute=3)
    try:
        phone = Phone(limited.webhook_url, "6281200000117", app_secret=KEYS.app_secret,
                      phone_number_id=PHONE_NUMBER_ID)
        for _ in range(6):
            assert (await phone.say("menu")).status_code == 200
        sent = [text_of(m.body) for m in limited.outbox.of("6281200000117")]
        await phone.close()
    finally:
        await limited.close()
    assert len(sent) == 4 and "terlalu banyak pesan" in sent[3]


async def test_status_callbacks_and_reply_buttons_are_read(whatsapp: WhatsappStack) -> None:
    phone = Phone(whatsapp.webhook_url, "6281200000118", app_secret=KEYS.app_secret,
                  phone_number_id=PHONE_NUMBER_ID)
    statuses = {"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": [
        {"field": "messages", "value": {"messaging_product": "whatsapp", "statuses": [
            {"id": "wamid.X", "status": "delivered", "timestamp": "1",
             "recipient_id": "6281200000118"}]}}]}]}
    body = orjson.dumps(statuses)
    assert (await phone.post_raw(body, signature(body, KEYS.app_secret))).status_code == 200
    assert whatsapp.outbox.of("6281200000118") == []
    assert (await phone.pick("m_claim", kind="button_reply")).status_code == 200
    template = {"from": "6281200000118", "id": "wamid.template1", "timestamp": "1",
                "type": "button", "button": {"payload": "m_channels", "text": "Kanal"}}
    assert (await phone.post(template)).status_code == 200
    sent = [text_of(m.body) for m in whatsapp.outbox.of("6281200000118")]
    await phone.close()
    assert "INFORMASI KLAIM" in sent[0] and "KANAL LAYANAN" in sent[2]


async def test_a_silent_ledger_gets_an_apology_not_a_hang(chat, backend: Stack) -> None:
    c = chat("6281200000119")
    await c.pick("m_member")
    await c.say(BUDI["nik"])
    await backend.stop_ledger()
    try:
        replies = await c.say(BUDI["birth"])
    finally:
        await backend.start_ledger()
    assert "tidak dapat diproses" in text_of(replies[0])
    assert "B**i" not in str(replies)
    await c.pick("m_member")
    await c.say(BUDI["nik"])
    assert "B**i" in text_of((await c.say(BUDI["birth"]))[0])  # and it comes back


async def test_an_idle_session_is_forgotten(backend: Stack) -> None:
    from tests.whatsapp.conftest import start_whatsapp

    forgetful = await start_whatsapp(backend, session_idle=1.0)
    try:
        phone = Phone(forgetful.webhook_url, "6281200000120", app_secret=KEYS.app_secret,
                      phone_number_id=PHONE_NUMBER_ID)
        await phone.pick("m_member")
        await phone.say(BUDI["nik"])
        await asyncio.sleep(1.3)
        await phone.say(BUDI["birth"])  # the NIK step was forgotten: back to the menu
        sent = [m.body for m in forgetful.outbox.of("6281200000120")]
        await phone.close()
    finally:
        await forgetful.close()
    assert "tanggal lahir" in text_of(sent[1])
    assert choice_ids(sent[2])[0] == "m_member" and "B**i" not in str(sent)


async def test_a_16_digit_number_that_is_no_nik(chat) -> None:
    c = chat("6281200000121")
    await c.pick("m_member")
    await c.say("1234567890123456")  # 16 digits, but no NIK: its "birth date" is 789012
    assert "tidak cocok" in text_of((await c.say("01-01-1990"))[0])

    d = chat("6281200000122")
    await d.pick("m_complaint")
    await d.pick("cat_LAINNYA")
    await d.say("Baris satu\r\nbaris dua\x07")
    await d.say("1234567890123456")
    invalid = (await d.pick("send"))[0]
    assert "tidak valid" in text_of(invalid) and choice_ids(invalid) == ["skip"]
    confirm = (await d.pick("skip"))[0]
    assert "Baris satu\nbaris dua" in text_of(confirm)
    assert "PGD-" in text_of((await d.pick("send"))[0])
