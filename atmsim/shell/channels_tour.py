"""``atmsim demo --channels``: one participant's JHT balance through every channel, against
one ledger, each over its own real protocol on loopback.

The back end comes up as ``atmsim demo`` runs it; beside it the JMO/SSO portal (with its
mail sink), the simulated SMSC with the BPJS SMS gateway bound to it, and the WhatsApp bot
with its simulated Graph API, all on free ports. Then, for Budi Santoso (demo card
5264220000100010):

1. the BNI ATM: a balance inquiry (ISO 8583 0200/0210 with his PIN block);
2. SMS 2757: ``DAFTAR SALDO#...`` from his phone, then ``SALDO <KPJ>`` (SMPP 3.4);
3. WhatsApp: "Menu" (a signed Cloud API webhook; the bot answers with its list of
   services and, asked for a balance, points to JMO, SMS 2757 and the ATM);
4. the portal: registration, the verification mail's link, login, Cek Saldo JHT (HTTP).

It prints what each channel showed and whether the ATM, the SMS and the portal showed the
same balance to the sen; the exit status is 0 only if they did.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from typing import Any, TextIO

from atmsim.kernel.demo_data import DEMO_CARDS, DEMO_PARTICIPANTS
from atmsim.kernel.money import format_rupiah
from atmsim.shell.config import Settings
from bpjs_ledger.identity import parse_nik

__all__ = ["run_channels_tour"]

PHONE = "081234567890"  # Budi's phone in the tour
WA_ID = "6281234567890"
EMAIL = "budi.santoso@example.id"
PASSWORD = "rahasia123"


@dataclass
class Shown:
    channel: str
    text: str
    balance_sen: int | None = None  # what the channel showed, read back to sen


def _birth_date(nik: str) -> str:
    """The birth date a NIK carries, as people type it (DD-MM-YYYY)."""
    return f"{parse_nik(nik).birth_date:%d-%m-%Y}"


def _sen(rupiah: str) -> int:
    """``Rp122.904.759,25`` (or without ``Rp``) as sen."""
    digits = rupiah.removeprefix("Rp").replace(".", "")
    whole, _, cents = digits.partition(",")
    return int(whole) * 100 + int((cents or "0")[:2].ljust(2, "0"))


@asynccontextmanager
async def _channels(settings: Settings, stack: Any) -> AsyncIterator[dict[str, Any]]:
    """Portal, SMSC + gateway and WhatsApp bot beside a running ``stack``."""
    from atmsim.kernel.bus import MqttBus
    from atmsim.shell.whatsapp_cli import WhatsappStack, whatsapp_secrets
    from jmo_portal.server import Portal
    from sms_gateway.esme import Esme, EsmeConfig
    from sms_gateway.gateway import GatewayConfig, SmsGateway
    from smsc_sim.accounts import HANDSET, ensure_accounts
    from smsc_sim.server import SmscServer

    broker = stack.broker
    async with AsyncExitStack() as parts:
        host = "127.0.0.1"
        portal = await parts.enter_async_context(Portal(
            data_dir=settings.data_dir, host=host, port=0,
            db=settings.data_dir / "portal" / "tour.db", endpoint=broker.endpoint_for("portal"),
            smtp=None, mail_port=0))
        accounts = ensure_accounts(settings.data_dir)
        smsc = await parts.enter_async_context(SmscServer(accounts, host, 0))
        bus = await parts.enter_async_context(MqttBus(broker.endpoint_for("sms"), "sms-gateway"))
        await bus.wait_connected(10)
        gateway = SmsGateway(bus, GatewayConfig(settings.sms.ledger_deadline))
        esme = await parts.enter_async_context(Esme(EsmeConfig(
            host, smsc.port, settings.sms.system_id, accounts[settings.sms.system_id].password),
            gateway.answer))
        await esme.wait_bound(10)
        wa_config = dataclasses.replace(settings.whatsapp, host=host, port=0, graph_port=0)
        keys = whatsapp_secrets(settings)
        whatsapp = await parts.enter_async_context(WhatsappStack(
            broker.endpoint_for("whatsapp"), wa_config, keys))
        await whatsapp.bus.wait_connected(10)
        yield {"portal": portal, "smsc": smsc, "handset": accounts[HANDSET].password,
               "whatsapp": whatsapp, "keys": keys}


async def _atm(settings: Settings, stack: Any) -> Shown:
    from atmsim.kernel.demo_data import DEMO_ATM_TERMINAL
    from atmsim.shell.cli import atm_client, atm_config

    card = DEMO_CARDS[0]
    config = atm_config(settings, stack.switch.host, stack.switch.port)
    async with atm_client(config, terminal_id=DEMO_ATM_TERMINAL, echo_interval=None,
                          reconnect=False) as client:
        result = (await client.inquire(card.pan, card.pin, None, expiry=card.expiry,
                                       track2=card.track2)).result
    if result.response_code != "00" or result.balance_sen is None:
        return Shown("ATM", f"response code {result.response_code}")
    sen = result.balance_sen
    return Shown("ATM", f"00 approved, Saldo JHT {format_rupiah(sen)}", sen)


async def _sms(parts: dict[str, Any]) -> Shown:
    from smsc_sim.handset import Handset

    budi = DEMO_PARTICIPANTS[0]
    async with Handset("127.0.0.1", parts["smsc"].port, PHONE, parts["handset"]) as phone:
        await phone.send(f"DAFTAR SALDO#{budi.nik}#{budi.name}#{_birth_date(budi.nik)}"
                         f"#{budi.kpj}")
        registered = (await phone.receive(10)).text
        await phone.send(f"SALDO {budi.kpj}")
        reply = (await phone.receive(10)).text
    match = re.search(r"Rp[\d.]+,\d{2}", reply)
    return Shown("SMS 2757", f"{registered}\n  > {reply}",
                 _sen(match.group(0)) if match else None)


async def _whatsapp(parts: dict[str, Any], settings: Settings) -> Shown:
    from whatsapp_sim.phone import Phone

    whatsapp = parts["whatsapp"]
    phone = Phone(whatsapp.webhook_url, WA_ID, app_secret=parts["keys"].app_secret,
                  phone_number_id=settings.whatsapp.phone_number_id)
    try:
        await phone.say("Menu")
        first = await whatsapp.outbox.wait_for(WA_ID, 1, 10)
        await phone.say("cek saldo JHT")
        second = await whatsapp.outbox.wait_for(WA_ID, 2, 10)
    finally:
        await phone.close()
    return Shown("WhatsApp", f"{_wa_text(first[-1].body)}\n  > {_wa_text(second[-1].body)}")


def _wa_text(body: dict[str, Any]) -> str:
    if body.get("type") == "text":
        return str(body["text"]["body"]).replace("\n", " ")[:200]
    interactive = body.get("interactive", {})
    rows = [row.get("title", "") for section in interactive.get("action", {}).get(
        "sections", []) for row in section.get("rows", [])]
    buttons = [b.get("reply", {}).get("title", "") for b in interactive.get(
        "action", {}).get("buttons", [])]
    text = str(interactive.get("body", {}).get("text", "")).replace("\n", " ")[:120]
    return f"{text} [{' | '.join(rows or buttons)}]"


async def _portal(parts: dict[str, Any], settings: Settings) -> Shown:
    import httpx

    from jmo_portal.mail import read_inbox

    budi = DEMO_PARTICIPANTS[0]
    base = parts["portal"].url

    def csrf(page: str) -> str:
        match = re.search(r'name="csrf" value="([^"]+)"', page)
        return match.group(1) if match else ""

    async with httpx.AsyncClient(base_url=base, timeout=15) as web:
        form = {"nik": budi.nik, "kpj": budi.kpj, "name": budi.name,
                "birth_date": _birth_date(budi.nik), "segment": budi.segment, "email": EMAIL,
                "password": PASSWORD, "password_confirm": PASSWORD}
        registered = await web.post("/daftar", data={
            "csrf": csrf((await web.get("/daftar")).text), **form})
        if registered.status_code not in (201, 409):
            return Shown("JMO portal", f"registration answered {registered.status_code}")
        for mail in reversed(read_inbox(settings.data_dir)):
            link = re.search(r"/verifikasi\?token=\S+", mail.body)
            if mail.to == EMAIL and link:
                await web.get(link.group(0))
                break
        login = await web.post("/masuk", data={
            "csrf": csrf((await web.get("/masuk")).text), "login": EMAIL,
            "password": PASSWORD})
        if login.status_code != 303:
            return Shown("JMO portal", f"login answered {login.status_code}")
        page = (await web.get("/peserta/saldo")).text
    match = re.search(r'id="balance">([^<]+)<', page)
    if not match:
        return Shown("JMO portal", "no balance on the Cek Saldo JHT page")
    return Shown("JMO portal", f"logged in as {EMAIL}; Cek Saldo JHT {match.group(1)}",
                 _sen(match.group(1)))


async def run_channels_tour(settings: Settings, stack: Any, out: TextIO) -> int:
    """The tour against a running ``stack`` (``atmsim.shell.stack.Stack``)."""
    async with _channels(settings, stack) as parts:
        print(f"channels up: portal {parts['portal'].url}, SMSC 127.0.0.1:"
              f"{parts['smsc'].port}, WhatsApp webhook {parts['whatsapp'].webhook_url}\n",
              file=out)
        shown = [await _atm(settings, stack), await _sms(parts),
                 await _whatsapp(parts, settings), await _portal(parts, settings)]
    for item in shown:
        print(f"{item.channel}\n  {item.text}\n", file=out)
    balances = {item.channel: item.balance_sen for item in shown
                if item.channel != "WhatsApp"}
    same = len(set(balances.values())) == 1 and None not in balances.values()
    figures = ", ".join(f"{name} {'-' if sen is None else format_rupiah(sen)}"
                        for name, sen in balances.items())
    print(f"the same balance to the sen on every channel that shows one: "
          f"{'yes' if same else 'NO'} ({figures})", file=out)
    return 0 if same else 1
