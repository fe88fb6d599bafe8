"""The BNI ATM as a Textual app: the session, the connection to the switch, the flow.

Screens (``terminal_ui/screens/``) show one state each and post messages for what the
customer did, or dismiss themselves with an answer; the app asks ``terminal_ui/flow.py``
what follows and shows it. The app owns the session, the PIN pad and the host link; its
``connected`` is reactive, and the screens shown before a card is in watch it. The only
network I/O is in two workers: one keeps the link to the switch up (connect, sign on,
echo, reconnect, and forward the reversals it owes), one sends the 0200 and posts its
0210 as ``InquiryAnswered``. An 0200 left unanswered within ``host_timeout`` (or whose
link broke after it went out) is reversed: its 0420 goes into the store-and-forward queue
(``terminal_ui.device.store_and_forward``) and out to the switch until a 0430 answers it,
and the customer reads "transaction cancelled" (or "connection lost").
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from datetime import datetime, tzinfo
from pathlib import Path
from typing import Any, TypeVar

from textual import events, on, work
from textual.app import App
from textual.binding import Binding
from textual.geometry import Size
from textual.reactive import reactive
from textual.screen import Screen

from atmsim.kernel.masking import mask_pan
from terminal_ui import flow
from terminal_ui.device.client import AtmClient
from terminal_ui.device.clock import terminal_zone
from terminal_ui.device.config import AtmConfig
from terminal_ui.device.host_link import AtmHostLink, HostLost, HostTimeout, HostUnavailable
from terminal_ui.device.i18n import t
from terminal_ui.device.pinpad import PinEntryError
from terminal_ui.device.session import AtmSession, ReceiptData
from terminal_ui.device.store_and_forward import SafQueue, forward_reversals
from terminal_ui.device.transactions import (
    InquiryResult,
    balance_inquiry_request,
    read_inquiry_response,
    reversal_request,
)
from terminal_ui.flow import Failure, State, Then
from terminal_ui.screens import messages as msg
from terminal_ui.screens.base import AtmScreen, TooSmallNotice
from terminal_ui.screens.card_return import CardRetainedScreen, TakeCardScreen, ThankYouScreen
from terminal_ui.screens.idle import CardEntryScreen, IdleScreen, OfflineScreen
from terminal_ui.screens.kpj import KpjConfirmScreen, KpjEntryScreen, KpjSourceScreen
from terminal_ui.screens.menus import (
    BpjsMenuScreen,
    MainMenuScreen,
    NotAvailableScreen,
    OtherMenuScreen,
)
from terminal_ui.screens.more_time import MoreTimeScreen
from terminal_ui.screens.outcome import (
    AnotherTransactionScreen,
    DeclineScreen,
    ProcessingScreen,
    ReceiptScreen,
    ResultScreen,
    decline_texts,
)
from terminal_ui.screens.pin import LanguageScreen, PinScreen
from terminal_ui.widgets.wire_panel import WireExchange

__all__ = ["AtmApp", "MIN_SIZE"]

log = logging.getLogger("atmsim.atm")

MIN_SIZE = (80, 24)  # the ATM's display; smaller windows get a notice, not a clipped screen

Answer = TypeVar("Answer")

# The states whose screen needs nothing but the session to be shown.
_PLAIN_SCREENS: dict[State, Callable[[], AtmScreen[None]]] = {
    State.OFFLINE: OfflineScreen,
    State.IDLE: IdleScreen,
    State.CARD_ENTRY: CardEntryScreen,
    State.LANGUAGE: LanguageScreen,
    State.PIN: PinScreen,
    State.MAIN_MENU: MainMenuScreen,
    State.OTHER_MENU: OtherMenuScreen,
    State.BPJS_MENU: BpjsMenuScreen,
    State.KPJ_SOURCE: KpjSourceScreen,
    State.KPJ_ENTRY: KpjEntryScreen,
}


class AtmApp(App[None]):
    CSS_PATH = "atm.tcss"
    TITLE = "BNI ATM"
    # The descriptions are i18n keys: screens that show these keys in their footer
    # (``footer_app_keys``) render them in the session's language.
    BINDINGS = [
        Binding("f2", "toggle_wire", "key_wire", key_display="F2", priority=True),
        Binding("ctrl+q", "quit", "key_quit", key_display="Ctrl+Q", priority=True),
    ]

    connected: reactive[bool] = reactive(False)  # a signed-on link to the switch

    def __init__(self, config: AtmConfig | None = None, *, connect: bool = True) -> None:
        super().__init__()
        self.config = config or AtmConfig()
        self.session: AtmSession | None = None
        self.client: AtmClient | None = None
        self.wire_visible = False
        self.last_exchange: WireExchange | None = None
        self.last_receipt_path: Path | None = None
        self._connect = connect
        # One PIN pad for the ATM's life: keys a key change installs serve the next PIN.
        self._pinpad = self.config.pinpad()
        self._more_time_open = False
        self.saf: SafQueue | None = None  # opened when the ATM connects to a switch
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
        for screen in self.screen_stack:
            for notice in screen.query(TooSmallNotice):
                notice.show_size()

    # -- showing a state -----------------------------------------------------------------

    def show(self, screen: Screen[Any]) -> None:
        """Make ``screen`` the ATM's display (it replaces the one shown)."""
        if len(self.screen_stack) > 1:
            self.switch_screen(screen)
        else:  # a question was just answered: only the app's blank base screen is left
            self.push_screen(screen)

    def ask(self, screen: AtmScreen[Answer], answered: Callable[[Answer | None], None]) -> None:
        """Show a screen that dismisses itself with an answer, handed to ``answered``."""
        if len(self.screen_stack) > 1:
            self.pop_screen()
        self.push_screen(screen, answered)

    def show_state(self, state: State) -> None:
        self.show(_PLAIN_SCREENS[state]())

    # -- start-up and the link to the switch --------------------------------------------

    def on_mount(self) -> None:
        self._check_size(self.size)
        if self._connect:
            self.saf = SafQueue(self.config.saf_file)
            self.push_screen(OfflineScreen())
            self.keep_link()
        else:
            self.connected = True  # screens shown without a host (snapshots, previews)
            self.push_screen(IdleScreen())

    @property
    def link(self) -> AtmHostLink | None:
        """The connection to the switch in use now (a new one after each reconnection)."""
        return self.client.link if self.client is not None else None

    def keep_link(self) -> None:
        """Connect, sign on, echo when idle and reconnect (the ATM client does it all, in
        the background); ``connected`` follows it."""

        def in_service(state: bool) -> None:
            self.connected = state

        self.client = AtmClient.from_config(self.config, on_state=in_service,
                                            pinpad=self._pinpad)
        self.client.start()
        self.forward_saf_while_running()

    @work(exclusive=True, group="saf-worker", exit_on_error=False)
    async def forward_saf_while_running(self) -> None:
        """Owed reversals go out whenever the ATM is in service (first after a restart or
        a reconnection), retried with the queue's backoff until each has its 0430."""
        while True:
            if self.connected:
                await self._forward_owed()
            await asyncio.sleep(self.config.reconnect_interval)

    @on(msg.ConnectionChanged)
    def _connection_changed(self, message: msg.ConnectionChanged) -> None:
        there = flow.after_connection_change(message.here, connected=message.connected)
        if there is not None and self.session is None:
            self.show_state(there)

    async def on_unmount(self) -> None:
        if self.client is not None:
            with contextlib.suppress(Exception):
                await self.client.close()
        if self.saf is not None:
            self.saf.close()
            self.saf = None

    @work(group="saf", exit_on_error=False)
    async def forward_saf(self) -> None:
        """Send the reversals owed now, without waiting for the worker's next round."""
        await self._forward_owed()

    async def _forward_owed(self) -> None:
        link, saf = self.link, self.saf
        if link is not None and link.connected and saf is not None and saf.pending():
            await forward_reversals(link, saf, timeout=self.config.host_timeout)

    # -- the flow: card, language, PIN, menus -------------------------------------------

    @on(msg.CardInserted)
    def _card_inserted(self, message: msg.CardInserted) -> None:
        self.session = AtmSession(message.card)
        self.show_state(State.LANGUAGE)

    @on(msg.LanguageChosen)
    def _language_chosen(self, message: msg.LanguageChosen) -> None:
        if self.session:
            self.session.language = message.language
            self.show_state(State.PIN)

    @on(msg.PinEntered)
    def _pin_entered(self, message: msg.PinEntered) -> None:
        session = self.session
        if session is None:
            return
        try:
            session.pin_block = self._pinpad.encrypt_pin(message.take_pin(), session.card.pan)
        except PinEntryError:
            self.show_state(State.PIN)
            return
        if flow.after_pin(inquiry_pending=session.kpj_pending) is State.PROCESSING:
            self.start_inquiry(session.kpj)  # re-entered after a wrong PIN: send it again
        else:
            self.show_state(State.MAIN_MENU)

    @on(msg.MenuChosen)
    def _menu_chosen(self, message: msg.MenuChosen) -> None:
        there = flow.after_menu(message.here, message.item)
        if there is State.NOT_AVAILABLE:
            self.ask(NotAvailableScreen(), lambda _: self.show_state(message.here))
        else:
            self.show_state(there)

    @on(msg.KpjTyped)
    def _kpj_typed(self, message: msg.KpjTyped) -> None:
        def answered(correct: bool | None) -> None:
            if correct:
                self.start_inquiry(message.kpj)
            else:
                self.show_state(State.KPJ_ENTRY)

        self.ask(KpjConfirmScreen(message.kpj), answered)

    @on(msg.KpjChosen)
    def _kpj_chosen(self, message: msg.KpjChosen) -> None:
        self.start_inquiry(message.kpj)

    @on(msg.SessionCancelled)
    def _session_cancelled(self) -> None:
        self.end_session()

    # -- the inquiry ---------------------------------------------------------------------

    def start_inquiry(self, kpj: str | None) -> None:
        session = self.session
        if session is None:
            return
        session.kpj = kpj
        session.kpj_pending = True
        session.result = None
        self.show(ProcessingScreen())
        self.send_inquiry()

    @work(exclusive=True, group="host", exit_on_error=False)
    async def send_inquiry(self) -> None:
        session, link = self.session, self.client
        if session is None:
            return
        if link is None or not link.connected or session.pin_block is None:
            self.post_message(msg.InquiryAnswered(flow.after_host_failure(Failure.LOST)))
            return
        sent_at = self.local_now()
        request = balance_inquiry_request(session.card, session.pin_block,
                                          terminal_id=self.config.terminal_id,
                                          stan=link.next_stan(),
                                          acquirer_id=self.config.acquirer_id, kpj=session.kpj,
                                          now=sent_at, zone=self.zone,
                                          hop_timings=self.config.hop_timings)
        started = time.perf_counter()
        self.last_exchange = WireExchange(request, None, sent_at, None)
        try:
            response = await link.exchange(request, timeout=self.config.host_timeout)
        except (HostTimeout, HostLost) as exc:
            # Whether the switch answered (and charged) is unknown: reverse the 0200.
            if self.saf is not None:
                self.saf.add(reversal_request(request, stan=link.next_stan()))
                self.forward_saf()
            failure = Failure.TIMEOUT if isinstance(exc, HostTimeout) else Failure.LOST
            self.post_message(msg.InquiryAnswered(flow.after_host_failure(failure)))
            return
        except HostUnavailable:
            self.post_message(msg.InquiryAnswered(flow.after_host_failure(Failure.LOST)))
            return
        self.last_exchange = WireExchange(request, response, sent_at,
                                          (time.perf_counter() - started) * 1000)
        result = read_inquiry_response(response)
        next_ = flow.after_inquiry(result.response_code,
                                   balance_valid=result.protocol_error is None)
        self.post_message(msg.InquiryAnswered(next_, result, request, sent_at))

    @on(msg.InquiryAnswered)
    def _inquiry_answered(self, message: msg.InquiryAnswered) -> None:
        session, next_ = self.session, message.next
        if session is None:
            return
        if next_.wrong_pin:
            session.wrong_pins += 1
            session.forget_pin()
        else:
            session.kpj_pending = False
        if next_.pin_accepted:
            session.wrong_pins = 0
        result, request = message.result, message.request or {}
        if next_.decline == Failure.NO_BALANCE:
            # An approval without a valid balance (field 54): never shown as Rp0,00.
            assert result is not None
            log.warning("switch approved STAN %s without a valid balance: %s",
                        request.get("11"), result.protocol_error)
        if next_.shows_balance:
            assert result is not None and message.sent_at is not None
            self.show_result(result, request, message.sent_at)
        else:
            assert next_.decline is not None and next_.then is not None
            self.show_decline(next_.decline, next_.then)

    def show_result(self, result: InquiryResult, request: dict[str, str],
                    sent_at: datetime) -> None:
        """The balance; then the receipt or not, then "another transaction?"."""
        if self.session is None:
            return
        self.session.result = result
        # The receipt prints the moment of fields 12/13 of the 0200 it answers.
        self.session.receipt = ReceiptData(self.config.terminal_id, request.get("11", ""),
                                           request.get("37", ""), sent_at,
                                           mask_pan(self.session.card.pan), result)

        def answered(receipt: bool | None) -> None:
            if receipt:
                self.ask(ReceiptScreen(), lambda _: self.ask_another_transaction())
            else:
                self.ask_another_transaction()

        self.ask(ResultScreen(result), answered)

    def show_decline(self, reason: str, then: Then) -> None:
        """A decline screen (a response code or a ``flow.Failure``), then ``then``."""
        def read(_: None) -> None:
            if then is Then.PIN_AGAIN:
                self.show(PinScreen(after_wrong_pin=True))
            elif then is Then.ANOTHER_TRANSACTION:
                self.ask_another_transaction()
            elif then is Then.RETAIN_CARD:
                language = self.session.language if self.session else "id"
                self.retain_card(decline_texts(reason, language)[0])
            else:
                self.end_session()

        self.ask(DeclineScreen(reason), read)

    def ask_another_transaction(self) -> None:
        def answered(another: bool | None) -> None:
            if another:
                self.show_state(State.MAIN_MENU)
            else:
                self.end_session()

        self.ask(AnotherTransactionScreen(), answered)

    @on(msg.ReceiptSaved)
    def _receipt_saved(self, message: msg.ReceiptSaved) -> None:
        self.last_receipt_path = message.path

    # -- the end of a session ------------------------------------------------------------

    def end_session(self, notice: str = "") -> None:
        """Give the card back (the customer has to take it)."""
        if self.session is not None:
            self.session.forget_pin()
        self.show(TakeCardScreen(notice))

    @on(msg.CardTaken)
    def _card_taken(self) -> None:
        self.ask(ThankYouScreen(), lambda _: self.to_idle())

    @on(msg.TimedOut)
    def _timed_out(self, message: msg.TimedOut) -> None:
        if message.here is State.TAKE_CARD and isinstance(self.screen, TakeCardScreen):
            self.retain_card()  # not taken in time: the ATM pulls the card back in

    def retain_card(self, reason: str = "") -> None:
        # The session (and its language) lasts until idle; only the PIN block goes now.
        if self.session is not None:
            self.session.forget_pin()
        self.ask(CardRetainedScreen(reason), lambda _: self.to_idle())

    def to_idle(self) -> None:
        self.session = None
        self.show_state(flow.idle_state(connected=self.connected))

    # -- inactivity ----------------------------------------------------------------------

    @on(msg.CustomerIdle)
    def _customer_idle(self, message: msg.CustomerIdle) -> None:
        self.ask_for_more_time(message.screen)

    def ask_for_more_time(self, screen: AtmScreen[Any]) -> None:
        """"Do you need more time?" over ``screen``: yes restarts its idle timer, no (or
        no answer) ends the session."""
        if self._more_time_open or self.screen is not screen:
            return
        self._more_time_open = True
        language = self.session.language if self.session else "id"

        def answered(more: bool | None) -> None:
            self._more_time_open = False
            if more:
                screen.reset_idle()
            else:
                self.end_session(t("cancelled", language))

        self.push_screen(MoreTimeScreen(self.config.more_time_timeout, language), answered)

    # -- the wire panel ------------------------------------------------------------------

    def action_toggle_wire(self) -> None:
        self.wire_visible = not self.wire_visible
        if isinstance(self.screen, AtmScreen):
            self.screen.refresh_wire_panel()

