"""The JMO / SSO web portal as an ASGI app (Starlette, server-rendered Jinja2 pages):
registration with e-mail verification, login with lockout, the digital membership card,
Cek Saldo JHT with the yearly statement and its PDF, the contribution history, and the
public "cek kepesertaan" form.

Whose data a page shows comes from the session alone: no page takes a KPJ or NIK from the
URL or a form, so changing an address can never show someone else's account, and the
ledger is always asked as the logged-in participant's NIK. Every state-changing form
carries a CSRF token (the session's own, or before login a double-submit cookie), every
response says ``Cache-Control: no-store`` and forbids framing, and a request body over
``MAX_BODY`` bytes is refused with 413 before it is read.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import secrets
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.datastructures import FormData
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from atmsim.kernel.masking import mask_kpj
from atmsim.kernel.money import format_date, format_rupiah
from atmsim.kernel.rate_limits import SlidingWindow
from jmo_portal.accounts import AccountStore, LoginResult, Session
from jmo_portal.forms import SEGMENTS, check_member_form, check_registration
from jmo_portal.ledger import LedgerUnavailable, PortalLedger
from jmo_portal.limits import PORTAL_LIMITS, Limit
from jmo_portal.mail import Mailer, MailError
from jmo_portal.statement_pdf import statement_pdf

__all__ = ["PortalDeps", "create_app", "MAX_BODY", "SESSION_COOKIE", "CSRF_COOKIE"]

log = logging.getLogger("atmsim.portal")

MAX_BODY = 16 * 1024
SESSION_COOKIE = "jmo_session"
CSRF_COOKIE = "jmo_csrf"
_HERE = Path(__file__).parent
# The programmes of each segment (a PU worker has all five; JHT is voluntary for BPU and PMI).
PROGRAMS = {"PU": ("JHT", "JKK", "JKM", "JP", "JKP"), "BPU": ("JKK", "JKM", "JHT"),
            "PMI": ("JKK", "JKM", "JHT")}
_UNAVAILABLE = ("Layanan sedang tidak tersedia, silakan coba lagi. / "
                "The service is unavailable right now, please try again.")


@dataclass
class PortalDeps:
    """What the portal's pages use: the accounts, the ledger, the mailer, the address
    its mails link to, and the clock of "today" (form checks)."""

    accounts: AccountStore
    ledger: PortalLedger
    mailer: Mailer
    public_url: str
    events: Callable[[dict[str, Any]], None] | None = None
    today: Callable[[], date] = date.today
    secure_cookies: bool = False
    limits: Mapping[str, Limit] = field(default_factory=lambda: dict(PORTAL_LIMITS))


def _rupiah(sen: int | None) -> str:
    return "-" if sen is None else format_rupiah(int(sen))


def _day(text: str | None) -> str:
    return "-" if not text else format_date(date.fromisoformat(text))


class _BodyLimit:
    """Refuse a request body over ``limit`` bytes with 413, by its Content-Length or as
    it streams in, before the app reads it."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", ()):
            if name == b"content-length":
                try:
                    too_big = int(value) > self.limit
                except ValueError:
                    too_big = True
                if too_big:
                    await _plain(send, 413, "Permintaan terlalu besar / Request too large")
                    return
        seen = 0

        async def limited() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    raise HTTPException(413, "Request too large")
            return message

        await self.app(scope, limited, send)


async def _plain(send: Send, status: int, text: str) -> None:
    body = text.encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"text/plain; charset=utf-8"),
                            (b"content-length", str(len(body)).encode()),
                            (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": body})


class _SecurityHeaders:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers += [(b"cache-control", b"no-store"),
                            (b"x-frame-options", b"DENY"),
                            (b"x-content-type-options", b"nosniff"),
                            (b"referrer-policy", b"no-referrer"),
                            (b"content-security-policy",
                             b"default-src 'self'; form-action 'self'; frame-ancestors 'none'")]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, with_headers)


def create_app(deps: PortalDeps) -> ASGIApp:
    """The portal's ASGI app."""
    templates = Jinja2Templates(directory=str(_HERE / "templates"))
    templates.env.filters["rupiah"] = _rupiah
    templates.env.filters["day"] = _day
    limits = {name: SlidingWindow(limit.attempts, limit.seconds)
              for name, limit in deps.limits.items()}

    def client(request: Request) -> str:
        return request.client.host if request.client else "?"

    def event(kind: str, result: str, kpj: str | None = None) -> None:
        if deps.events is not None:
            deps.events({"at": datetime.now(UTC).isoformat(timespec="milliseconds"),
                         "channel": "JMO", "kind": kind, "result": result,
                         "kpj": None if kpj is None else mask_kpj(kpj)})

    def page(request: Request, name: str, status: int = 200, **context: Any) -> Response:
        csrf = request.cookies.get(CSRF_COOKIE) or secrets.token_urlsafe(24)
        response = templates.TemplateResponse(
            request, name, {"segments": SEGMENTS, "anon_csrf": csrf, **context},
            status_code=status)
        if request.cookies.get(CSRF_COOKIE) != csrf:
            response.set_cookie(CSRF_COOKIE, csrf, httponly=True, samesite="strict",
                                secure=deps.secure_cookies)
        return response

    async def session_of(request: Request) -> Session | None:
        token = request.cookies.get(SESSION_COOKIE)
        if not token or len(token) > 128:
            return None
        return await asyncio.to_thread(deps.accounts.session, token)

    async def form_of(request: Request) -> FormData:
        try:
            return await request.form(max_files=0, max_fields=32)
        except HTTPException:
            raise
        except Exception:
            raise HTTPException(400, "Formulir tidak dapat dibaca / Unreadable form") from None

    def anon_csrf_ok(request: Request, form: FormData) -> bool:
        cookie = request.cookies.get(CSRF_COOKIE, "")
        sent = str(form.get("csrf", ""))
        return bool(cookie) and hmac.compare_digest(cookie.encode(), sent.encode())

    def members_only(handler: Callable[[Request, Session], Awaitable[Response]]
                     ) -> Callable[[Request], Awaitable[Response]]:
        async def guarded(request: Request) -> Response:
            session = await session_of(request)
            if session is None:
                response = RedirectResponse("/masuk?habis=1", status_code=303)
                response.delete_cookie(SESSION_COOKIE)
                return response
            return await handler(request, session)
        return guarded

    # -- public pages ---------------------------------------------------------------------

    async def home(request: Request) -> Response:
        if await session_of(request) is not None:
            return RedirectResponse("/peserta/kartu", status_code=303)
        return page(request, "login.html", expired=False)

    async def login_form(request: Request) -> Response:
        if await session_of(request) is not None:
            return RedirectResponse("/peserta/kartu", status_code=303)
        return page(request, "login.html", expired=bool(request.query_params.get("habis")))

    async def login(request: Request) -> Response:
        form = await form_of(request)
        if not anon_csrf_ok(request, form):
            return page(request, "login.html", 403, error="Sesi formulir habis, silakan ulangi."
                        " / The form expired, please try again.")
        if not limits["login"].allow(client(request)):
            return page(request, "login.html", 429, error="Terlalu banyak percobaan, coba lagi"
                        " nanti. / Too many attempts, try again later.")
        name, password = str(form.get("login", "")), str(form.get("password", ""))
        if not name or not password or len(name) > 254 or len(password) > 128:
            return page(request, "login.html", 400, login=name[:254],
                        error="Isi email/KPJ dan kata sandi. / Enter e-mail/KPJ and password.")
        outcome = await asyncio.to_thread(deps.accounts.login, name, password)
        if outcome.result is LoginResult.OK and outcome.token:
            event("login", "OK")
            response = RedirectResponse("/peserta/kartu", status_code=303)
            response.set_cookie(SESSION_COOKIE, outcome.token, httponly=True, samesite="lax",
                                secure=deps.secure_cookies)
            return response
        event("login", outcome.result.value)
        if outcome.result is LoginResult.LOCKED:
            until = (f" sampai {outcome.locked_until.astimezone():%H:%M} / until "
                     f"{outcome.locked_until.astimezone():%H:%M}" if outcome.locked_until
                     else "; coba lagi sebentar lagi / try again shortly")
            error = ("Akun terkunci karena terlalu banyak kata sandi salah" + until
                     + ". / The account is locked after too many wrong passwords.")
            return page(request, "login.html", 423, login=name, error=error)
        if outcome.result is LoginResult.UNVERIFIED:
            return page(request, "login.html", 403, login=name,
                        error="Email belum diverifikasi: buka tautan di email Anda. / "
                              "Verify your e-mail first: open the link we sent you.")
        left = ("" if outcome.tries_left is None
                else f" Sisa percobaan / tries left: {outcome.tries_left}.")
        return page(request, "login.html", 401, login=name,
                    error="Email/KPJ atau kata sandi salah. / Wrong e-mail/KPJ or password."
                          + left)

    async def logout(request: Request) -> Response:
        form = await form_of(request)
        session = await session_of(request)
        token = request.cookies.get(SESSION_COOKIE, "")
        if session is not None and hmac.compare_digest(
                session.csrf.encode(), str(form.get("csrf", "")).encode()):
            await asyncio.to_thread(deps.accounts.logout, token)
        response = RedirectResponse("/masuk", status_code=303)
        response.delete_cookie(SESSION_COOKIE)
        return response

    async def register_form(request: Request) -> Response:
        return page(request, "register.html", values={}, errors={})

    async def register(request: Request) -> Response:
        form = await form_of(request)
        values = {k: str(form.get(k, ""))[:254] for k in
                  ("nik", "kpj", "name", "birth_date", "segment", "email")}
        if not anon_csrf_ok(request, form):
            return page(request, "register.html", 403, values=values, errors={},
                        error="Sesi formulir habis, silakan ulangi. / The form expired.")
        if not limits["register"].allow(client(request)):
            return page(request, "register.html", 429, values=values, errors={},
                        error="Terlalu banyak percobaan, coba lagi nanti. / Too many attempts.")
        registration, errors = check_registration(
            {k: str(v) for k, v in form.items()}, deps.today())
        if registration is None:
            return page(request, "register.html", 400, values=values, errors=errors)
        try:
            member = await deps.ledger.member(registration.nik, registration.birth_date,
                                              registration.name, registration.kpj)
        except LedgerUnavailable as exc:
            log.warning("registration: ledger unavailable: %s", exc)
            return page(request, "register.html", 503, values=values, errors={},
                        error=_UNAVAILABLE)
        if member is None or member.segment != registration.segment:
            event("register", "NO_MATCH")
            return page(request, "register.html", 422, values=values, errors={},
                        error="Data tidak sesuai dengan data kepesertaan BPJS Ketenagakerjaan."
                              " / The data do not match a BPJS Ketenagakerjaan membership.")
        taken = await asyncio.to_thread(deps.accounts.taken, registration.kpj,
                                        registration.email)
        token = None if taken else await asyncio.to_thread(
            deps.accounts.register, registration, member.name)
        if token is None:
            what = ("Email ini sudah dipakai / This e-mail is already registered"
                    if taken == "email" else
                    "KPJ ini sudah memiliki akun: silakan masuk / This KPJ has an account")
            return page(request, "register.html", 409, values=values, errors={}, error=what)
        link = f"{deps.public_url.rstrip('/')}/verifikasi?token={token}"
        try:
            await deps.mailer.send(registration.email, "Verifikasi email akun JMO / "
                                   "Verify your JMO e-mail",
                                   f"Halo {member.name},\n\nKlik tautan berikut untuk "
                                   f"mengaktifkan akun JMO Anda (berlaku 24 jam):\n{link}\n\n"
                                   f"Open the link above to activate your JMO account "
                                   f"(valid for 24 hours).\n")
        except MailError as exc:
            log.error("registration: verification mail not sent: %s", exc)
            return page(request, "registered.html", 202, email=registration.email,
                        mail_failed=True)
        event("register", "OK", registration.kpj)
        return page(request, "registered.html", 201, email=registration.email,
                    mail_failed=False)

    async def verify(request: Request) -> Response:
        token = request.query_params.get("token", "")
        account = (await asyncio.to_thread(deps.accounts.verify_email, token)
                   if 0 < len(token) <= 128 else None)
        event("verify_email", "OK" if account else "INVALID")
        return page(request, "verified.html", 200 if account else 400, ok=account is not None)

    async def member_form(request: Request) -> Response:
        return page(request, "member_check.html", values={}, errors={})

    async def member_check(request: Request) -> Response:
        form = await form_of(request)
        values = {k: str(form.get(k, ""))[:254] for k in ("nik", "birth_date", "name")}
        if not anon_csrf_ok(request, form):
            return page(request, "member_check.html", 403, values=values, errors={},
                        error="Sesi formulir habis, silakan ulangi. / The form expired.")
        if not limits["member"].allow(client(request)):
            return page(request, "member_check.html", 429, values=values, errors={},
                        error="Terlalu banyak percobaan, coba lagi nanti. / Too many attempts.")
        check, errors = check_member_form({k: str(v) for k, v in form.items()}, deps.today())
        if check is None:
            return page(request, "member_check.html", 400, values=values, errors=errors)
        try:
            member = await deps.ledger.member(check.nik, check.birth_date, check.name)
        except LedgerUnavailable as exc:
            log.warning("member check: ledger unavailable: %s", exc)
            return page(request, "member_check.html", 503, values=values, errors={},
                        error=_UNAVAILABLE)
        event("member_check", "OK" if member else "NO_MATCH")
        return page(request, "member_check.html", 200 if member else 404, values=values,
                    errors={}, member=member, checked=True)

    # -- a participant's own pages ----------------------------------------------------------

    async def card(request: Request, session: Session) -> Response:
        account = session.account
        error: str | None = None
        try:
            balance = await deps.ledger.balance(account.nik, account.kpj)
        except LedgerUnavailable as exc:
            log.warning("card: ledger unavailable: %s", exc)
            balance, error = None, _UNAVAILABLE
        return page(request, "card.html", session=session, account=account, balance=balance,
                    programs=PROGRAMS.get(account.segment, ()), error=error)

    async def balance(request: Request, session: Session) -> Response:
        account = session.account
        try:
            statement = await deps.ledger.statement(account.nik, account.kpj)
        except LedgerUnavailable as exc:
            log.warning("statement: ledger unavailable: %s", exc)
            return page(request, "balance.html", 503, session=session, account=account,
                        statement=None, error=_UNAVAILABLE)
        event("balance", "OK" if statement else "REFUSED", account.kpj)
        return page(request, "balance.html", 200 if statement else 404, session=session,
                    account=account, statement=statement,
                    error=None if statement else "Data saldo tidak ditemukan. / No balance.")

    async def balance_pdf(request: Request, session: Session) -> Response:
        account = session.account
        try:
            statement = await deps.ledger.statement(account.nik, account.kpj)
        except LedgerUnavailable as exc:
            log.warning("statement pdf: ledger unavailable: %s", exc)
            return Response(_UNAVAILABLE, status_code=503, media_type="text/plain")
        event("statement_pdf", "OK" if statement else "REFUSED", account.kpj)
        if statement is None:
            return Response("Data saldo tidak ditemukan / No balance", status_code=404,
                            media_type="text/plain")
        pdf = await asyncio.to_thread(statement_pdf, statement, datetime.now())
        return Response(pdf, media_type="application/pdf", headers={
            "content-disposition": f'attachment; filename="saldo-jht-{account.kpj}.pdf"'})

    async def contributions(request: Request, session: Session) -> Response:
        account = session.account
        try:
            rows = await deps.ledger.contributions(account.nik, account.kpj)
        except LedgerUnavailable as exc:
            log.warning("contributions: ledger unavailable: %s", exc)
            return page(request, "contributions.html", 503, session=session, account=account,
                        rows=None, error=_UNAVAILABLE)
        return page(request, "contributions.html", 200 if rows is not None else 404,
                    session=session, account=account, rows=rows,
                    error=None if rows is not None else "Data iuran tidak ditemukan.")

    async def health(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def not_found(request: Request, exc: Exception) -> Response:
        return page(request, "error.html", 404, message="Halaman tidak ditemukan / Not found")

    async def http_error(request: Request, exc: Exception) -> Response:
        status = exc.status_code if isinstance(exc, HTTPException) else 500
        detail = exc.detail if isinstance(exc, HTTPException) else "Error"
        return page(request, "error.html", status, message=detail)

    async def server_error(request: Request, exc: Exception) -> Response:
        log.error("portal: %s on %s: %s", type(exc).__name__, request.url.path, exc)
        return page(request, "error.html", 500, message=_UNAVAILABLE)

    routes = [
        Route("/", home),
        Route("/masuk", login_form, methods=["GET"]),
        Route("/masuk", login, methods=["POST"]),
        Route("/keluar", logout, methods=["POST"]),
        Route("/daftar", register_form, methods=["GET"]),
        Route("/daftar", register, methods=["POST"]),
        Route("/verifikasi", verify),
        Route("/cek-kepesertaan", member_form, methods=["GET"]),
        Route("/cek-kepesertaan", member_check, methods=["POST"]),
        Route("/peserta/kartu", members_only(card)),
        Route("/peserta/saldo", members_only(balance)),
        Route("/peserta/saldo.pdf", members_only(balance_pdf)),
        Route("/peserta/iuran", members_only(contributions)),
        Route("/sehat", health),
        Mount("/static", StaticFiles(directory=str(_HERE / "static")), name="static"),
    ]
    app = Starlette(routes=routes, exception_handlers={
        404: not_found, HTTPException: http_error, Exception: server_error})
    return _SecurityHeaders(_BodyLimit(app, MAX_BODY))
