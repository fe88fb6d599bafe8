"""The menu of the BPJS Ketenagakerjaan WhatsApp service as a state machine, without I/O.

``handle(session, inbound)`` takes one user message and gives a ``Turn``: the replies to
send and, when the ledger must be asked, a ``LedgerAsk``; the caller asks and hands the
ledger's reply (or None: no answer) to ``answered(session, ask, reply)``, which gives
the next turn. ``Session`` is one user's conversation (language, step, what they typed so
far); the caller keeps one per wa_id.

The five services of the public guide: membership information (after identity
verification: NIK plus birth date or KPJ), claim information, service channels, the
complaint form (a ticket from the ledger) and BSU candidacy. Balances are never answered
here: a balance question gets the channels that do answer it. A person sees only their
own data: membership and BSU are asked of the ledger with the identity the user gave, and
the ledger answers only when every detail matches. Three failed verifications lock
verification for the rest of the session.

>>> s = Session("6281200000001")
>>> turn = handle(s, Inbound("6281200000001", "wamid.1", "0", "text", text="halo"))
>>> type(turn.replies[0]).__name__, s.step
('ListMenu', 'menu')
>>> turn = handle(s, Inbound("6281200000001", "wamid.2", "0", "text", text="cek saldo"))
>>> "2757" in turn.replies[0].body
True
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from atmsim.kernel.masking import mask_kpj, mask_name
from whatsapp_bot.graph_json import Buttons, ListMenu, ListRow, ListSection, Reply, Text
from whatsapp_bot.texts import TEXTS, say
from whatsapp_bot.webhook import Inbound

__all__ = ["BSU_PROGRAMMES", "MAX_VERIFY_FAILURES", "Inbound", "LedgerAsk", "Session", "Turn",
           "answered", "handle", "rupiah"]

MAX_VERIFY_FAILURES = 3
MAX_COMPLAINT = 1000
# The programmes the menu offers: year -> (active through MM-YYYY, wage limit sen, the
# limit included). The ledger judges; these only label the rows (docs/channels.md).
BSU_PROGRAMMES: dict[str, tuple[str, int, bool]] = {
    "2025": ("04-2025", 3_500_000_00, True),
    "2022": ("07-2022", 3_500_000_00, True),
    "2021": ("06-2021", 3_500_000_00, True),
    "2020": ("06-2020", 5_000_000_00, False),
}
_CATEGORIES = ("KEPESERTAAN", "KLAIM", "IURAN", "LAYANAN", "LAINNYA")
_MENU_WORDS = {"menu", "halo", "hai", "hi", "hello", "mulai", "start", "0", "kembali", "back"}
_DONE_WORDS = {"selesai", "done", "stop", "keluar", "exit", "terima kasih", "thanks"}
_BALANCE = re.compile(r"\b(saldo|balance|jht saya|cek jht)\b", re.IGNORECASE)
_DATE = re.compile(r"^\s*(\d{1,2})[-/. ](\d{1,2})[-/. ](\d{4})\s*$")
_DIGITS = re.compile(r"^\s*(\d[\d\s.-]*\d)\s*$")


@dataclass
class Session:
    wa_id: str
    lang: str = "id"
    step: str = "idle"
    purpose: str = ""  # membership | bsu: what the identity is being asked for
    nik: str = ""
    identity: dict[str, Any] | None = None  # verified this session: nik, birth_date, kpj
    bsu_year: str = ""
    category: str = ""
    complaint: str = ""
    complaint_nik: str | None = None
    failures: int = 0


@dataclass(frozen=True)
class LedgerAsk:
    """A request for the ledger: ``kind`` membership, bsu or complaint; ``fields`` the
    request JSON without the envelope (id, reply_to, channel, terminal_id, requested_at)."""

    kind: str
    fields: dict[str, Any]


@dataclass
class Turn:
    replies: list[Reply] = field(default_factory=list)
    ask: LedgerAsk | None = None


# -- formatting -------------------------------------------------------------------------


def rupiah(sen: int) -> str:
    """Whole rupiah in Indonesian style: a wage limit as the regulations write it, not a
    balance, so no sen (``atmsim.kernel.money.format_rupiah`` writes a balance's sen).

    >>> rupiah(3_500_000_00)
    'Rp3.500.000'
    """
    return "Rp" + f"{sen // 100:,}".replace(",", ".")



def _month(iso: str | None) -> str:
    if not iso:
        return "-"
    parts = iso.split("-")
    return f"{parts[1]}-{parts[0]}" if len(parts) >= 2 else iso


def _day(iso: str | None) -> str:
    if not iso:
        return "-"
    y, m, d = iso.split("-")
    return f"{d}-{m}-{y}"


# -- the menus --------------------------------------------------------------------------


def _menu(s: Session, lead: str = "welcome") -> ListMenu:
    rows = tuple(ListRow(key, say(key, s.lang), say(key + "_d", s.lang)) for key in
                 ("m_member", "m_claim", "m_channels", "m_complaint", "m_bsu", "m_lang"))
    return ListMenu(say(lead, s.lang), say("menu_button", s.lang),
                    (ListSection(say("menu_section", s.lang), rows),),
                    header="BPJS Ketenagakerjaan")


def _next(s: Session) -> Buttons:
    return Buttons(say("what_next", s.lang), (("menu", say("b_menu", s.lang)),
                                              ("done", say("b_done", s.lang))))


def _limit(s: Session, sen: int, inclusive: bool) -> str:
    return say("limit_at_most" if inclusive else "limit_below", s.lang, amount=rupiah(sen))


def _to_menu(s: Session, lead: str = "welcome") -> Turn:
    s.step, s.purpose = "menu", ""
    return Turn([_menu(s, lead)])


# -- one message in ---------------------------------------------------------------------


def handle(s: Session, m: Inbound) -> Turn:
    """The bot's turn after the user's message ``m``."""
    if m.kind == "unsupported":
        return Turn([Text(say("unsupported", s.lang))])
    word = (m.choice or m.text).strip().lower()
    if m.kind == "choice":
        return _choice(s, m.choice)
    if word in _DONE_WORDS:
        return _done(s)
    if word in _MENU_WORDS:
        return _to_menu(s)
    if word in ("english", "inggris"):
        s.lang = "en"
        return _to_menu(s)
    if word in ("bahasa", "indonesia", "bahasa indonesia"):
        s.lang = "id"
        return _to_menu(s)
    if s.step == "ask_nik":
        return _got_nik(s, m.text)
    if s.step == "ask_proof":
        return _got_proof(s, m.text)
    if s.step == "complaint_text":
        return _got_complaint(s, m.text)
    if s.step == "complaint_nik":
        return _got_complaint_nik(s, m.text)
    if _BALANCE.search(m.text):
        return Turn([Text(say("balance", s.lang)), _next(s)])
    return _to_menu(s)


def _done(s: Session) -> Turn:
    # Everything typed and verified is forgotten; the language stays.
    fresh = Session(s.wa_id, lang=s.lang, failures=s.failures)
    for name in fresh.__dataclass_fields__:
        setattr(s, name, getattr(fresh, name))
    return Turn([Text(say("goodbye", s.lang))])


def _choice(s: Session, choice: str) -> Turn:
    if choice == "menu":
        return _to_menu(s)
    if choice == "done":
        return _done(s)
    if choice == "m_lang":
        s.lang = "en" if s.lang == "id" else "id"
        return _to_menu(s, "lang_set")
    if choice == "m_claim":
        s.step = "menu"
        return Turn([Text(say("claim", s.lang)), _next(s)])
    if choice == "m_channels":
        s.step = "menu"
        return Turn([Text(say("channels", s.lang)), _next(s)])
    if choice == "m_member":
        return _identify(s, "membership")
    if choice == "m_bsu":
        s.step = "bsu_programme"
        rows = tuple(ListRow(f"bsu_{year}", say("bsu_row", s.lang, year=year),
                             say("bsu_row_d", s.lang, through=through,
                                 limit=_limit(s, limit, inclusive)))
                     for year, (through, limit, inclusive) in BSU_PROGRAMMES.items())
        return Turn([ListMenu(say("bsu_programme", s.lang), say("bsu_button", s.lang),
                              (ListSection("BSU", rows),))])
    if choice.startswith("bsu_") and choice[4:] in BSU_PROGRAMMES:
        s.bsu_year = choice[4:]
        return _identify(s, "bsu")
    if choice == "retry" and s.purpose:
        return _identify(s, s.purpose)
    if choice == "m_complaint":
        s.step = "complaint_category"
        rows = tuple(ListRow(f"cat_{c}", say(f"c_{c}", s.lang)) for c in _CATEGORIES)
        return Turn([ListMenu(say("complaint_category", s.lang),
                              say("complaint_button", s.lang),
                              (ListSection(say("m_complaint", s.lang)[:24], rows),))])
    if choice.startswith("cat_") and choice[4:] in _CATEGORIES and \
            s.step == "complaint_category":
        s.category, s.step = choice[4:], "complaint_text"
        return Turn([Text(say("complaint_text", s.lang))])
    if choice == "skip" and s.step == "complaint_nik":
        s.complaint_nik = None
        return _confirm_complaint(s)
    if choice == "send" and s.step == "complaint_confirm":
        identity = s.identity or {}
        s.step = "complaint_sending"
        return Turn(ask=LedgerAsk("complaint", {
            "contact": s.wa_id, "nik": s.complaint_nik or identity.get("nik"),
            "kpj": identity.get("kpj"), "category": s.category, "text": s.complaint}))
    if choice == "cancel":
        s.category, s.complaint, s.complaint_nik = "", "", None
        s.step = "menu"
        return Turn([Text(say("complaint_cancelled", s.lang)), _next(s)])
    return _to_menu(s)  # a button from an older message: start again from the menu


# -- identity ---------------------------------------------------------------------------


def _identify(s: Session, purpose: str) -> Turn:
    s.purpose = purpose
    if s.identity is not None:
        return Turn(ask=_ask_for(s, s.identity))
    if s.failures >= MAX_VERIFY_FAILURES:
        s.step = "menu"
        return Turn([Text(say("locked", s.lang)), _next(s)])
    s.step = "ask_nik"
    return Turn([Text(say("ask_nik", s.lang))])


def _digits(text: str) -> str | None:
    match = _DIGITS.match(text)
    return None if match is None else re.sub(r"[\s.-]", "", match.group(1))


def _got_nik(s: Session, text: str) -> Turn:
    digits = _digits(text)
    if digits is None or len(digits) != 16:
        return Turn([Text(say("bad_nik", s.lang))])
    s.nik, s.step = digits, "ask_proof"
    return Turn([Text(say("ask_proof", s.lang))])


def _got_proof(s: Session, text: str) -> Turn:
    identity: dict[str, Any] = {"nik": s.nik, "birth_date": None, "kpj": None}
    day = _DATE.match(text)
    digits = _digits(text)
    if day is not None:
        try:
            identity["birth_date"] = date(int(day[3]), int(day[2]), int(day[1])).isoformat()
        except ValueError:
            return Turn([Text(say("bad_proof", s.lang))])
    elif digits is not None and len(digits) == 11:
        identity["kpj"] = digits
    else:
        return Turn([Text(say("bad_proof", s.lang))])
    s.step = "verifying"
    return Turn(ask=_ask_for(s, identity))


def _ask_for(s: Session, identity: dict[str, Any]) -> LedgerAsk:
    if s.purpose == "bsu":
        return LedgerAsk("bsu", {**identity, "programme": s.bsu_year})
    return LedgerAsk("membership", dict(identity))


# -- complaints -------------------------------------------------------------------------


def _got_complaint(s: Session, text: str) -> Turn:
    # What the ledger refuses in a complaint: control characters other than line breaks.
    text = "".join(c if c >= " " or c in "\n\t" else " " for c in text.replace("\r\n", "\n"))
    text = text.strip()
    if len(text) > MAX_COMPLAINT:
        return Turn([Text(say("complaint_too_long", s.lang, length=len(text)))])
    if not text:
        return Turn([Text(say("complaint_text", s.lang))])
    s.complaint = text
    if s.identity is not None:
        return _confirm_complaint(s)
    s.step = "complaint_nik"
    return Turn([Buttons(say("complaint_nik", s.lang), (("skip", say("b_skip", s.lang)),))])


def _got_complaint_nik(s: Session, text: str) -> Turn:
    digits = _digits(text)
    if digits is None or len(digits) != 16:
        return Turn([Buttons(say("bad_nik", s.lang), (("skip", say("b_skip", s.lang)),))])
    s.complaint_nik = digits
    return _confirm_complaint(s)


def _confirm_complaint(s: Session) -> Turn:
    s.step = "complaint_confirm"
    shown = s.complaint if len(s.complaint) <= 700 else s.complaint[:700] + "..."
    body = say("complaint_confirm", s.lang, category=say(f"c_{s.category}", s.lang),
               text=shown)
    return Turn([Buttons(body, (("send", say("b_send", s.lang)),
                                ("cancel", say("b_cancel", s.lang))))])


# -- the ledger's answer ----------------------------------------------------------------


def answered(s: Session, ask: LedgerAsk, reply: dict[str, Any] | None) -> Turn:
    """The turn after the ledger answered ``ask`` with ``reply`` (None: no answer in time,
    or the bus is down)."""
    result = None if reply is None else reply.get("result")
    refused = (reply is not None and result == "ERROR"
               and str(reply.get("reason", "")).startswith("bad request:"))
    if refused and ask.kind == "complaint" and ask.fields.get("nik"):
        # A NIK of 16 digits that is no NIK (its birth date, its region): ask again.
        s.complaint_nik, s.step = None, "complaint_nik"
        return Turn([Buttons(say("invalid_nik", s.lang), (("skip", say("b_skip", s.lang)),))])
    if refused and ask.kind != "complaint":
        result = "NOT_VERIFIED"  # a malformed identity is told like a wrong one
    elif reply is None or result == "ERROR":
        s.step = "menu" if ask.kind != "complaint" else "complaint_confirm"
        if ask.kind == "complaint":
            return Turn([Text(say("unavailable", s.lang)), Buttons(
                say("what_next", s.lang), (("send", say("b_retry", s.lang)),
                                           ("menu", say("b_menu", s.lang))))])
        return Turn([Text(say("unavailable", s.lang)), _next(s)])
    assert reply is not None  # answered (or refused as a malformed identity)
    if ask.kind == "complaint":
        s.category, s.complaint, s.complaint_nik, s.step = "", "", None, "menu"
        return Turn([Text(say("complaint_filed", s.lang, ticket=reply.get("ticket"))),
                     _next(s)])
    if result != "OK":
        s.identity = None
        s.failures += 1
        s.step = "menu"
        if s.failures >= MAX_VERIFY_FAILURES:
            return Turn([Text(say("locked", s.lang)), _next(s)])
        return Turn([Text(say("not_verified", s.lang)), Buttons(
            say("what_next", s.lang), (("retry", say("b_retry", s.lang)),
                                       ("menu", say("b_menu", s.lang))))])
    s.identity = {k: ask.fields.get(k) for k in ("nik", "birth_date", "kpj")}
    s.step = "menu"
    if ask.kind == "bsu":
        return Turn([Text(_bsu_text(s, reply)), _next(s)])
    return Turn([Text(_member_text(s, reply)), _next(s)])


def _member_text(s: Session, r: dict[str, Any]) -> str:
    segment = str(r.get("segment"))
    return say("member", s.lang, name=mask_name(str(r.get("name", ""))),
               kpj=mask_kpj(str(r.get("kpj", ""))), status=r.get("status"),
               segment=say(f"seg_{segment}", s.lang) if f"seg_{segment}" in TEXTS else segment,
               since=_month(r.get("member_since")),
               programs=", ".join(r.get("programs") or []) or "-",
               last=_month(r.get("last_contribution")),
               employer=say("employer", s.lang, employer=r["employer"])
               if r.get("employer") else "",
               inactive=say("inactive", s.lang, date=_day(r["inactive_since"]))
               if r.get("inactive_since") else "")


def _bsu_text(s: Session, r: dict[str, Any]) -> str:
    year = str(r.get("programme"))
    _, limit_sen, inclusive = BSU_PROGRAMMES.get(year, ("", 0, True))
    limit = _limit(s, int(r.get("wage_limit_sen") or limit_sen), inclusive)
    through = _month(str(r.get("active_through") or ""))
    note = say("bsu_note", s.lang)
    if r.get("eligible"):
        return say("bsu_yes", s.lang, year=year, through=through, limit=limit, note=note)
    reasons = "\n".join(say(f"bsu_{code}", s.lang, through=through, limit=limit)
                        for code in r.get("reasons") or [] if f"bsu_{code}" in _REASONS)
    return say("bsu_no", s.lang, year=year, reasons=reasons or "-", note=note)


_REASONS = {"bsu_NOT_PU", "bsu_NOT_ACTIVE", "bsu_WAGE_ABOVE_LIMIT"}
