"""The bot's replies and their Graph API JSON (``POST /{version}/{phone-number-id}/messages``).

Three kinds, as the WhatsApp Business Cloud API defines them: a ``Text``; ``Buttons``
(an interactive ``button`` message: a body and 1-3 reply buttons, titles up to 20
characters); a ``ListMenu`` (an interactive ``list`` message: a body, the label of the
button that opens it, up to 10 rows in sections, row titles up to 24 characters and
descriptions up to 72). A limit broken here is a bug in the bot, so it raises.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["Buttons", "ListMenu", "ListRow", "ListSection", "Reply", "Text", "to_graph"]

MAX_TEXT = 4096
MAX_INTERACTIVE_BODY = 1024
MAX_BUTTON_TITLE = 20
MAX_ROW_TITLE = 24
MAX_ROW_DESCRIPTION = 72
MAX_LIST_ROWS = 10


@dataclass(frozen=True)
class Text:
    body: str


@dataclass(frozen=True)
class Buttons:
    body: str
    buttons: tuple[tuple[str, str], ...]  # (id, title)
    header: str = ""
    footer: str = ""


@dataclass(frozen=True)
class ListRow:
    id: str
    title: str
    description: str = ""


@dataclass(frozen=True)
class ListSection:
    title: str
    rows: tuple[ListRow, ...]


@dataclass(frozen=True)
class ListMenu:
    body: str
    button: str
    sections: tuple[ListSection, ...]
    header: str = ""
    footer: str = ""


Reply = Text | Buttons | ListMenu


def _check(what: str, text: str, limit: int) -> str:
    if not text or len(text) > limit:
        raise ValueError(f"{what} must be 1-{limit} characters: {text!r}")
    return text


def _decorations(reply: Buttons | ListMenu) -> dict[str, Any]:
    extra: dict[str, Any] = {}
    if reply.header:
        extra["header"] = {"type": "text", "text": _check("header", reply.header, 60)}
    if reply.footer:
        extra["footer"] = {"text": _check("footer", reply.footer, 60)}
    return extra


def to_graph(reply: Reply, to: str) -> dict[str, Any]:
    """The request body that sends ``reply`` to the user ``to`` (a wa_id).

    >>> to_graph(Text("Halo"), "6281200000001")["text"]
    {'preview_url': False, 'body': 'Halo'}
    >>> to_graph(Buttons("Lanjut?", (("ya", "Ya"), ("tidak", "Tidak"))), "62812")[
    ...     "interactive"]["action"]["buttons"][1]
    {'type': 'reply', 'reply': {'id': 'tidak', 'title': 'Tidak'}}
    """
    base: dict[str, Any] = {"messaging_product": "whatsapp", "recipient_type": "individual",
                            "to": to}
    if isinstance(reply, Text):
        return {**base, "type": "text",
                "text": {"preview_url": False, "body": _check("text", reply.body, MAX_TEXT)}}
    if isinstance(reply, Buttons):
        if not 1 <= len(reply.buttons) <= 3:
            raise ValueError("1-3 reply buttons")
        return {**base, "type": "interactive", "interactive": {
            "type": "button", **_decorations(reply),
            "body": {"text": _check("body", reply.body, MAX_INTERACTIVE_BODY)},
            "action": {"buttons": [
                {"type": "reply", "reply": {"id": _check("button id", i, 256),
                                            "title": _check("button", t, MAX_BUTTON_TITLE)}}
                for i, t in reply.buttons]}}}
    rows = [row for section in reply.sections for row in section.rows]
    if not 1 <= len(rows) <= MAX_LIST_ROWS:
        raise ValueError(f"1-{MAX_LIST_ROWS} list rows")
    return {**base, "type": "interactive", "interactive": {
        "type": "list", **_decorations(reply),
        "body": {"text": _check("body", reply.body, MAX_INTERACTIVE_BODY)},
        "action": {"button": _check("list button", reply.button, MAX_BUTTON_TITLE),
                   "sections": [{"title": _check("section", s.title, MAX_ROW_TITLE),
                                 "rows": [_row(r) for r in s.rows]}
                                for s in reply.sections]}}}


def _row(row: ListRow) -> dict[str, str]:
    out = {"id": _check("row id", row.id, 200), "title": _check("row", row.title, MAX_ROW_TITLE)}
    if row.description:
        out["description"] = _check("row description", row.description, MAX_ROW_DESCRIPTION)
    return out
