"""The phone terminal (``atmsim sms --msisdn 0812...``): type an SMS to 2757, see replies.

A small Textual app: the conversation above, the message being typed below (with its
length in characters and SMS). The phone's SMPP session runs in workers; nothing on the
screen waits for the network.
"""

from __future__ import annotations

from textual import work
from textual.app import App, ComposeResult
from textual.widgets import Footer, Header, Input, RichLog, Static

from atmsim.kernel.smpp.text import split_text
from smsc_sim.handset import Handset, HandsetError

__all__ = ["PhoneApp"]


class PhoneApp(App[None]):
    TITLE = "atmsim phone"
    CSS = """
    RichLog { height: 1fr; border: round $accent; }
    #counter { height: 1; color: $text-muted; }
    """
    BINDINGS = [("ctrl+q", "quit", "Quit")]
    AUTO_FOCUS = "#message"

    def __init__(self, handset: Handset) -> None:
        super().__init__()
        self.handset = handset
        self.sub_title = f"{handset.msisdn} -> {handset.short_code}"

    def compose(self) -> ComposeResult:
        yield Header()
        yield RichLog(id="conversation", wrap=True, markup=False)
        yield Static("", id="counter")
        yield Input(placeholder="SALDO 10012345678  (Enter: send to 2757)", id="message")
        yield Footer()

    def on_mount(self) -> None:
        self.connect()

    @property
    def conversation(self) -> RichLog:
        return self.query_one("#conversation", RichLog)

    @work(exclusive=True, group="connect", exit_on_error=False)
    async def connect(self) -> None:
        try:
            await self.handset.connect()
        except (HandsetError, OSError) as exc:
            self.conversation.write(f"! {exc}")
            return
        self.conversation.write(f"connected to the SMSC as {self.handset.msisdn}")
        self.listen()

    @work(group="listen", exit_on_error=False)
    async def listen(self) -> None:
        while True:
            sms = await self.handset.inbox.get()
            self.conversation.write(f"< {sms.sender}: {sms.text}")

    def on_input_changed(self, event: Input.Changed) -> None:
        text = event.value
        parts = len(split_text(text)) if text else 0
        self.query_one("#counter", Static).update(f"{len(text)} characters, {parts} SMS")

    async def on_input_submitted(self, event: Input.Submitted) -> None:
        text = event.value.strip()
        if not text:
            return
        event.input.value = ""
        self.conversation.write(f"> {text}")
        self.send(text)

    @work(group="send", exit_on_error=False)
    async def send(self, text: str) -> None:
        try:
            await self.handset.send(text)
        except (HandsetError, OSError, TimeoutError) as exc:
            self.conversation.write(f"! not sent: {exc}")

    async def on_unmount(self) -> None:
        await self.handset.close()
