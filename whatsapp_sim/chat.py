"""The chat terminal of ``atmsim whatsapp``: a WhatsApp-like conversation with the bot.

What the user types is posted as a signed webhook (``whatsapp_sim.phone``); what the bot
sends arrives in the simulated Graph API's ``Outbox`` and is shown as a bubble. A reply
with buttons or a list shows its choices numbered: type the number (or click one) to
pick it, as tapping it on a phone would.
"""

from __future__ import annotations

from typing import Any

from textual import work
from textual.app import App, ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import Footer, Header, Input, OptionList, Static
from textual.widgets.option_list import Option

from whatsapp_sim.graph_api import Outbox
from whatsapp_sim.phone import Phone

__all__ = ["ChatApp", "choices_of", "render_message"]


def choices_of(body: dict[str, Any]) -> list[tuple[str, str]]:
    """The (id, title) choices of an interactive message; [] for a text.

    >>> choices_of({"type": "interactive", "interactive": {"type": "button",
    ...     "action": {"buttons": [{"type": "reply", "reply": {"id": "a", "title": "A"}}]}}})
    [('a', 'A')]
    """
    i = body.get("interactive") or {}
    action = i.get("action") or {}
    if i.get("type") == "button":
        return [(b["reply"]["id"], b["reply"]["title"]) for b in action.get("buttons", [])]
    if i.get("type") == "list":
        return [(r["id"], r["title"] + (f" - {r['description']}" if r.get("description") else ""))
                for s in action.get("sections", []) for r in s.get("rows", [])]
    return []


def render_message(body: dict[str, Any]) -> str:
    """The text of a message the bot sent, as the chat shows it."""
    if body.get("type") == "text":
        return str(body["text"]["body"])
    i = body.get("interactive") or {}
    parts = [i.get("header", {}).get("text", ""), i.get("body", {}).get("text", ""),
             i.get("footer", {}).get("text", "")]
    if i.get("type") == "list":
        parts.append(f"[{i['action']['button']}]")
    return "\n".join(p for p in parts if p)


class ChatApp(App[None]):
    TITLE = "WhatsApp BPJS Ketenagakerjaan 0813-8007-0175 (simulated)"
    CSS = """
    #log { height: 1fr; padding: 0 1; }
    .bot { background: $panel; margin: 0 12 1 0; padding: 0 1; }
    .me { background: $success-darken-2; margin: 0 0 1 12; padding: 0 1; }
    #choices { height: auto; max-height: 12; display: none; }
    #choices.shown { display: block; }
    """
    BINDINGS = [("ctrl+q", "quit", "Quit")]
    AUTO_FOCUS = "#input"

    def __init__(self, phone: Phone, outbox: Outbox) -> None:
        super().__init__()
        self.phone, self.outbox = phone, outbox
        self.shown = 0
        self.choices: list[tuple[str, str]] = []

    def compose(self) -> ComposeResult:
        yield Header()
        yield VerticalScroll(id="log")
        yield OptionList(id="choices")
        yield Input(placeholder="Ketik pesan (MENU untuk mulai), atau nomor pilihan", id="input")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#log").mount(Static(
            "Ketik MENU untuk melihat layanan. / Type MENU to see the services.", classes="bot"))
        self.watch_outbox()

    @work(exclusive=True, group="outbox")
    async def watch_outbox(self) -> None:
        while True:
            try:
                await self.outbox.wait_for(self.phone.wa_id, self.shown + 1, timeout=3600)
            except TimeoutError:
                continue
            for message in self.outbox.of(self.phone.wa_id)[self.shown:]:
                self.shown += 1
                self._show(message.body)

    def _show(self, body: dict[str, Any]) -> None:
        log = self.query_one("#log", VerticalScroll)
        log.mount(Static(render_message(body), classes="bot", markup=False))
        log.scroll_end(animate=False)
        choices = choices_of(body)
        if choices:
            self.choices = choices
            options = self.query_one("#choices", OptionList)
            options.clear_options()
            options.add_options([Option(f"{n}. {title}", id=cid)
                                 for n, (cid, title) in enumerate(choices, 1)])
            options.add_class("shown")

    def _mine(self, text: str) -> None:
        log = self.query_one("#log", VerticalScroll)
        log.mount(Static(text, classes="me", markup=False))
        log.scroll_end(animate=False)

    async def on_input_submitted(self, event: Input.Submitted) -> None:
        text = event.value.strip()
        event.input.value = ""
        if not text:
            return
        if text.isdigit() and 1 <= int(text) <= len(self.choices) and len(text) <= 2:
            choice_id, title = self.choices[int(text) - 1]
            self._pick(choice_id, title)
            return
        self._mine(text)
        self.send_text(text)

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        choice = next((c for c in self.choices if c[0] == event.option.id), None)
        if choice is not None:
            self._pick(*choice)

    def _pick(self, choice_id: str, title: str) -> None:
        self._mine(title)
        self.query_one("#choices").remove_class("shown")
        kind = "list_reply" if " - " in title or len(self.choices) > 3 else "button_reply"
        self.choices = []  # picked: a later number is text again
        self.send_choice(choice_id, title.split(" - ")[0][:24], kind)

    @work(group="send")
    async def send_text(self, text: str) -> None:
        await self._posted(self.phone.say(text))

    @work(group="send")
    async def send_choice(self, choice_id: str, title: str, kind: str) -> None:
        await self._posted(self.phone.pick(choice_id, title, kind=kind))

    async def _posted(self, call: Any) -> None:
        try:
            response = await call
        except Exception as exc:  # the bot is gone: say so in the chat, keep running
            self._show({"type": "text", "text": {"body": f"(tidak terkirim: {exc})"}})
            return
        if response.status_code != 200:
            self._show({"type": "text", "text": {
                "body": f"(webhook {response.status_code}: {response.text[:100]})"}})
