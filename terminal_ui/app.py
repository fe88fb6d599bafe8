"""The BNI ATM as a Textual app: the session, the connection to the switch, the flow.

Screens (``terminal_ui/screens/``) show a state and call back into the app for every
transition; the app owns the session, the PIN pad and the host link. The only network
I/O is in two workers: one keeps the link to the switch up (connect, sign on, reconnect),
one sends the 0200 and waits for its 0210.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from datetime import datetime, tzinfo
from pathlib import Path

from textual import events, work
from textual.app import App
from textual.binding import Binding
from textual.geometry import Size

from atmsim.kernel.masking import mask_pan
from terminal_ui.device.clock import terminal_zone
from terminal_ui.device.config import AtmConfig
from terminal_ui.device.host_link import AtmHostLink, HostTimeout, HostUnavailable
from terminal_ui.device.i18n import t
from terminal_ui.device.pinpad import PinEntryError, PinPad
from terminal_ui.device.session import AtmSession, ReceiptData
from terminal_ui.device.transactions import (
    CardData,
    InquiryResult,
    balance_inquiry_request,
    read_inquiry_response,
)
from terminal_ui.screens.base import AtmScreen
from terminal_ui.screens.card_return import CardRetainedScreen, TakeCardScreen, ThankYouScreen
from terminal_ui.screens.idle import IdleScreen, OfflineScreen
from terminal_ui.screens.menus import MainMenuScreen
from terminal_ui.screens.more_time import MoreTimeScreen
from terminal_ui.screens.outcome import (
    AnotherTransactionScreen,
    DeclineScreen,
    ProcessingScreen,
    ResultScreen,
)
from terminal_ui.screens.pin import LanguageScreen, PinScreen
from terminal_ui.widgets.wire_panel import WireExchange

__all__ = ["AtmApp", "MIN_SIZE"]

log = logging.getLogger("atmsim.atm")

MIN_SIZE = (80, 24)  # the ATM's display; smaller windows get a notice, not a clipped screen

# Response codes after which the card itself is the problem: the session ends.
_CARD_PROBLEMS = ("14", "54", "62")


class AtmApp(App[None]):
    CSS_PATH = "atm.tcss"
    TITLE = "BNI ATM"
    BINDINGS = [
        Binding("f2", "toggle_wire", "Wire panel", priority=True),
        Binding("ctrl+q", "quit", "Quit", priority=True),
    ]

    def __init__(self, config: AtmConfig | None = None, *, connect: bool = True) -> None:
        super().__init__()
        self.config = config or AtmConfig()
        self.session: AtmSession | None = None
        self.link: AtmHostLink | None = None
        self.connected = False
        self.wire_visible = False
        self.last_exchange: WireExchange | None = None
        self.last_receipt_path: Path | None = None
        self._connect = connect
        self._pinpad = PinPad(self.config.tpk_hex)
        self._more_time_open = False
        self.zone: tzinfo = terminal_zone(self.config.time_zone)
        self.window_size = Size(*MIN_SIZE)

    def local_now(self) -> datetime:
        """Now in the terminal's time zone: the screen clock, the 0200, the receipt."""
        return self.config.clock().astimezone(self.zone)

    # -- the window ----------------------------------------------------------------------

    @property
    def too_small(self) -> bool:
        return self.has_class("-too-small")

    def on_resize(self, event: events.Resize) -> None:
        # Runs before App's own handler has stored the new size: use the event's.
        self._check_size(event.size)

    def _check_size(self, size: Size) -> None:
        # The class switches every screen (CSS in atm.tcss) to the "enlarge" notice.
        self.window_size = size
        self.set_class(size.width < MIN_SIZE[0] or size.height < MIN_SIZE[1], "-too-small")
        from terminal_ui.screens.base import TooSmallNotice

        for screen in self.screen_stack:
            for notice in screen.query(TooSmallNotice):
                notice.show_size()

    # -- start-up and the link to the switch --------------------------------------------

    def on_mount(self) -> None:
        self._check_size(self.size)
        if self._connect:
            self.push_screen(OfflineScreen())
            self.keep_link()
        else:
            self.connected = True  # screens shown without a host (snapshots, previews)
            self.push_screen(IdleScreen())

    @work(exclusive=True, group="link", exit_on_error=False)
    async def keep_link(self) -> None:
        last_echo = time.monotonic()
        while True:
            if self.link is None or not self.link.connected:
                self.connected = False
                await self._open_link()
                last_echo = time.monotonic()
            elif time.monotonic() - last_echo >= self.config.echo_interval:
                last_echo = time.monotonic()
                await self._echo(self.link)
            await asyncio.sleep(min(self.config.reconnect_interval, self.config.echo_interval))

    async def _echo(self, link: AtmHostLink) -> None:
        """One echo test; a link that does not answer it is closed, to be opened again."""
        try:
            reply = await link.echo()
            if reply.get("39") == "00":
                return
        except (HostUnavailable, HostTimeout):
            pass
        if link is self.link:
            self.link = None
        await link.close()

    async def _open_link(self) -> None:
        if self.link is not None:
            await self.link.close()
            self.link = None
        link = AtmHostLink(self.config.host, self.config.port,
                           terminal_id=self.config.terminal_id,
                           acquirer_id=self.config.acquirer_id, timeout=self.config.host_timeout,
                           connect_timeout=min(5.0, self.config.host_timeout))
        try:
            await link.connect()
            reply = await link.sign_on()
            if reply.get("39") != "00":
                raise HostUnavailable(f"sign-on refused with {reply.get('39')}")
        except (HostUnavailable, HostTimeout):
            await link.close()
            if self.session is None and not isinstance(self.screen, OfflineScreen):
                self.switch_screen(OfflineScreen())
            return
        self.link = link
        self.connected = True
        if isinstance(self.screen, OfflineScreen):
            self.switch_screen(IdleScreen())

    async def on_unmount(self) -> None:
        if self.link is not None:
            with contextlib.suppress(Exception):
                await self.link.close()

    # -- the flow -------------------------------------------------------------------------

    def insert_card(self, card: CardData) -> None:
        self.session = AtmSession(card)
        self.switch_screen(LanguageScreen())

    def choose_language(self, language: str) -> None:
        if self.session:
            self.session.language = language
            self.switch_screen(PinScreen())

    def pin_entered(self, pin: str) -> None:
        session = self.session
        if session is None:
            return
        try:
            session.pin_block = self._pinpad.encrypt_pin(pin, session.card.pan)
        except PinEntryError:
            self.switch_screen(PinScreen())
            return
        if session.kpj_pending:
            self.start_inquiry(session.kpj)  # re-entered after a wrong PIN: send it again
        else:
            self.switch_screen(MainMenuScreen())

    def start_inquiry(self, kpj: str | None) -> None:
        session = self.session
        if session is None:
            return
        session.kpj = kpj
        session.kpj_pending = True
        session.result = None
        self.switch_screen(ProcessingScreen())
        self.send_inquiry()

    @work(exclusive=True, group="host", exit_on_error=False)
    async def send_inquiry(self) -> None:
        session, link = self.session, self.link
        if session is None:
            return
        if link is None or not link.connected or session.pin_block is None:
            self._show_decline("lost")
            return
        sent_at = self.local_now()
        request = balance_inquiry_request(session.card, session.pin_block,
                                          terminal_id=self.config.terminal_id,
                                          stan=link.next_stan(),
                                          acquirer_id=self.config.acquirer_id, kpj=session.kpj,
                                          now=sent_at, zone=self.zone)
        started = time.perf_counter()
        self.last_exchange = WireExchange(request, None, sent_at, None)
        try:
            response = await link.exchange(request, timeout=self.config.host_timeout)
        except HostTimeout:
            self._show_decline("timeout")
            return
        except HostUnavailable:
            self._show_decline("lost")
            return
        self.last_exchange = WireExchange(request, response, sent_at,
                                          (time.perf_counter() - started) * 1000)
        self.show_outcome(read_inquiry_response(response), request, sent_at)

    def show_outcome(self, result: InquiryResult, request: dict[str, str],
                     sent_at: datetime) -> None:
        session = self.session
        if session is None:
            return
        code = result.response_code
        if code == "55":
            session.wrong_pins += 1
            session.forget_pin()
            self._show_decline("55", lambda: self.switch_screen(PinScreen(after_wrong_pin=True)))
            return
        session.kpj_pending = False
        if code == "00":
            session.wrong_pins = 0  # the PIN was right, whatever else the answer lacks
        if code == "00" and result.protocol_error is not None:
            # An approval without a valid balance (field 54): never shown as Rp0,00.
            log.warning("switch approved STAN %s without a valid balance: %s",
                        request.get("11"), result.protocol_error)
            self._show_decline("no_balance",
                               lambda: self.switch_screen(AnotherTransactionScreen()))
        elif code == "00":
            session.result = result
            # The receipt prints the moment of fields 12/13 of the 0200 it answers.
            session.receipt = ReceiptData(self.config.terminal_id, request.get("11", ""),
                                          request.get("37", ""), sent_at,
                                          mask_pan(session.card.pan), result)
            self.switch_screen(ResultScreen(result))
        elif code == "75":
            self._show_decline("75", lambda: self.retain_card(t("rc_75", session.language)))
        elif code in _CARD_PROBLEMS:
            self._show_decline(code, self.end_session)
        else:
            self._show_decline(code, lambda: self.switch_screen(AnotherTransactionScreen()))

    def _show_decline(self, code: str, after: object = None) -> None:
        self.switch_screen(DeclineScreen(code, after or self.end_session))

    def end_session(self, notice: str = "") -> None:
        """Give the card back (the customer has to take it)."""
        if self.session is not None:
            self.session.forget_pin()
        self.switch_screen(TakeCardScreen(notice))

    def card_taken(self) -> None:
        self.switch_screen(ThankYouScreen())

    def card_not_taken(self) -> None:
        if isinstance(self.screen, TakeCardScreen):
            self.retain_card()

    def retain_card(self, reason: str = "") -> None:
        # The session (and its language) lasts until idle; only the PIN block goes now.
        if self.session is not None:
            self.session.forget_pin()
        self.switch_screen(CardRetainedScreen(reason))

    def to_idle(self) -> None:
        self.session = None
        self.switch_screen(IdleScreen() if self.connected else OfflineScreen())

    def ask_for_more_time(self, screen: AtmScreen) -> None:
        if self._more_time_open or self.screen is not screen:
            return
        self._more_time_open = True
        language = self.session.language if self.session else "id"

        def answered(more: bool | None) -> None:
            self._more_time_open = False
            if more:
                screen._reset_idle()
            else:
                self.end_session(t("cancelled", language))

        self.push_screen(MoreTimeScreen(self.config.more_time_timeout, language), answered)

    # -- the wire panel ------------------------------------------------------------------

    def action_toggle_wire(self) -> None:
        self.wire_visible = not self.wire_visible
        if isinstance(self.screen, AtmScreen):
            self.screen.refresh_wire_panel()
