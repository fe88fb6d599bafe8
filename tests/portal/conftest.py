"""The JMO/SSO portal on free loopback ports beside a whole atmsim back end (one per test
module), and ``Visitor``: one person's browser over plain HTTP (cookies, forms with their
CSRF token, no redirects followed), for the tests that do not need a real browser."""

from __future__ import annotations

import http.cookiejar
import re
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from atmsim.kernel.demo_data import DEMO_PARTICIPANTS
from atmsim.testing.harness import RunningStack
from bpjs_ledger.identity import parse_nik
from jmo_portal.limits import Limit
from jmo_portal.mail import read_inbox
from jmo_portal.server import Portal
from tests.conftest import free_port

BUDI, SITI, ANDI, DEWI, WAYAN = DEMO_PARTICIPANTS
PASSWORD = "rahasia123"
# generous: the tests of one module all come from 127.0.0.1
ROOMY = {"login": Limit(1000, 60), "register": Limit(1000, 60), "member": Limit(1000, 60)}


def birth_date(nik: str) -> str:
    """The birth date a NIK carries, as DD-MM-YYYY."""
    return f"{parse_nik(nik).birth_date:%d-%m-%Y}"


@dataclass
class Page:
    status: int
    text: str
    headers: Any
    body: bytes = b""

    @property
    def location(self) -> str:
        return str(self.headers.get("Location", ""))


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


class Visitor:
    """One browser: its own cookies."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(self.jar), _NoRedirect)

    def get(self, path: str) -> Page:
        return self._open(urllib.request.Request(self.base + path))

    def post(self, path: str, fields: dict[str, str], *, csrf: bool = True,
             raw: bytes | None = None) -> Page:
        if csrf and "csrf" not in fields:
            fields = {"csrf": self.csrf(path), **fields}
        data = raw if raw is not None else urllib.parse.urlencode(fields).encode()
        return self._open(urllib.request.Request(
            self.base + path, data=data,
            headers={"Content-Type": "application/x-www-form-urlencoded"}))

    def csrf(self, path: str) -> str:
        """The CSRF token of the form on ``path`` (GET it first, as a browser would)."""
        page = self.get(path if path != "/keluar" else "/peserta/kartu")
        match = re.search(r'name="csrf" value="([^"]+)"', page.text)
        assert match, f"no CSRF token on {path}"
        return match.group(1)

    def cookie(self, name: str) -> str | None:
        return next((c.value for c in self.jar if c.name == name), None)

    def _open(self, request: urllib.request.Request) -> Page:
        try:
            with self.opener.open(request, timeout=15) as response:
                body = response.read()
                return Page(response.status, body.decode("utf-8", "replace"),
                            response.headers, body)
        except urllib.error.HTTPError as exc:
            body = exc.read()
            return Page(exc.code, body.decode("utf-8", "replace"), exc.headers, body)


@dataclass
class RunningPortal:
    stack: RunningStack
    portal: Portal

    @property
    def url(self) -> str:
        return self.portal.url

    def visitor(self) -> Visitor:
        return Visitor(self.url)

    def verification_link(self, email: str) -> str:
        for mail in reversed(read_inbox(self.portal.data_dir)):
            if mail.to == email:
                match = re.search(r"http://\S+/verifikasi\?token=\S+", mail.body)
                assert match, mail.body
                return match.group(0)
        raise AssertionError(f"no mail to {email}")

    def register(self, who: Any, email: str, password: str = PASSWORD) -> Visitor:
        """Register ``who``, open the link of the verification mail, log in."""
        visitor = self.visitor()
        page = visitor.post("/daftar", registration(who, email, password))
        assert page.status == 201, page.text
        link = self.verification_link(email)
        assert visitor.get(link.removeprefix(self.url)).status == 200
        assert visitor.post("/masuk", {"login": email, "password": password}).status == 303
        return visitor


def registration(who: Any, email: str, password: str = PASSWORD, **fields: str) -> dict[str, str]:
    form = {"nik": who.nik, "kpj": who.kpj, "name": who.name,
            "birth_date": birth_date(who.nik), "segment": who.segment, "email": email,
            "password": password, "password_confirm": password}
    form.update(fields)
    return form


def start_portal(stack: RunningStack, data_dir: Path, **options: Any) -> Portal:
    broker = stack.stack.broker
    assert broker is not None
    portal = Portal(data_dir=data_dir, host="127.0.0.1", port=0,
                    db=data_dir / "portal" / "portal.db",
                    endpoint=broker.endpoint_for("portal"), smtp=None, mail_port=0,
                    **{"limits": ROOMY, **options})
    stack.call(portal.__aenter__())
    return portal


@pytest.fixture(scope="module")
def portal(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningPortal]:
    stack = RunningStack.start(tmp_path_factory.mktemp("portal"))
    try:
        portal = start_portal(stack, stack.data_dir)
        try:
            yield RunningPortal(stack, portal)
        finally:
            stack.call(portal.__aexit__(None, None, None))
    finally:
        stack.stop()


__all__ = ["BUDI", "SITI", "ANDI", "DEWI", "WAYAN", "PASSWORD", "Visitor", "RunningPortal",
           "birth_date", "registration", "start_portal", "free_port"]
