"""A fake WhatsApp Business Cloud API: ``POST /{version}/{phone-number-id}/messages``.

It checks what the real one checks that matters to a bot: the bearer token (401, Graph
error code 190), the phone number id (400, code 100), the body (``messaging_product``
``whatsapp``, ``to``, ``type`` text or interactive; text 1-4096 characters; an
interactive ``button`` with 1-3 reply buttons of titles up to 20 characters and unique
ids; a ``list`` with a button label up to 20, 1-10 rows, row titles up to 24,
descriptions up to 72, unique row ids; bodies up to 1024), answering 400 with code 100
and what is wrong. An accepted message gets ``{"messaging_product": "whatsapp",
"contacts": [{"input", "wa_id"}], "messages": [{"id": "wamid..."}]}`` and lands in the
``Outbox`` of its recipient.
"""

from __future__ import annotations

import asyncio
import hmac
import itertools
import secrets
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

__all__ = ["Outbox", "SentMessage", "check_message", "graph_app"]


@dataclass(frozen=True)
class SentMessage:
    wamid: str
    to: str
    body: dict[str, Any]  # the JSON the bot sent


class Outbox:
    """Every accepted message by recipient, and a way to wait for the next ones."""

    def __init__(self) -> None:
        self.messages: dict[str, list[SentMessage]] = defaultdict(list)
        self._changed = asyncio.Condition()
        self.total = 0

    async def add(self, message: SentMessage) -> None:
        async with self._changed:
            self.messages[message.to].append(message)
            self.total += 1
            self._changed.notify_all()

    async def wait_for(self, to: str, count: int, timeout: float = 5.0) -> list[SentMessage]:
        """The first ``count`` messages to ``to``, waiting up to ``timeout`` for them."""
        async with self._changed:
            await asyncio.wait_for(
                self._changed.wait_for(lambda: len(self.messages[to]) >= count), timeout)
            return list(self.messages[to][:count])

    def of(self, to: str) -> list[SentMessage]:
        return list(self.messages.get(to, []))


def _graph_error(status: int, code: int, message: str) -> JSONResponse:
    return JSONResponse({"error": {"message": message, "type": "OAuthException",
                                   "code": code, "fbtrace_id": secrets.token_hex(8)}},
                        status_code=status)


def _text(value: Any, what: str, limit: int) -> str | None:
    if not isinstance(value, str) or not value or len(value) > limit:
        return f"{what} must be a string of 1-{limit} characters"
    return None


def check_message(body: Any) -> str | None:
    """What is wrong with a send-message request body, or None.

    >>> check_message({"messaging_product": "whatsapp", "to": "62812", "type": "text",
    ...                "text": {"body": "Halo"}}) is None
    True
    >>> check_message({"messaging_product": "whatsapp", "to": "62812", "type": "interactive",
    ...     "interactive": {"type": "button", "body": {"text": "?"}, "action": {"buttons": [
    ...     {"type": "reply", "reply": {"id": "a", "title": "Judul yang terlalu panjang"}}]}}})
    'interactive.action.buttons[0].reply.title must be a string of 1-20 characters'
    """
    if not isinstance(body, dict):
        return "the body must be a JSON object"
    if body.get("messaging_product") != "whatsapp":
        return "messaging_product must be whatsapp"
    to = body.get("to")
    if not isinstance(to, str) or not to.isdigit() or not 5 <= len(to) <= 20:
        return "to must be a phone number"
    kind = body.get("type", "text")
    if kind == "text":
        text = body.get("text")
        return _text(text.get("body") if isinstance(text, dict) else None, "text.body", 4096)
    if kind != "interactive":
        return f"type {kind!r} is not supported by this simulator (text, interactive)"
    i = body.get("interactive")
    if not isinstance(i, dict):
        return "interactive must be an object"
    body_text = i.get("body")
    problem = _text(body_text.get("text") if isinstance(body_text, dict) else None,
                    "interactive.body.text", 1024)
    if problem:
        return problem
    action = i.get("action")
    if not isinstance(action, dict):
        return "interactive.action must be an object"
    if i.get("type") == "button":
        buttons = action.get("buttons")
        if not isinstance(buttons, list) or not 1 <= len(buttons) <= 3:
            return "interactive.action.buttons: 1-3 buttons"
        ids = set()
        for n, b in enumerate(buttons):
            reply = b.get("reply") if isinstance(b, dict) else None
            if not isinstance(reply, dict) or b.get("type") != "reply":
                return f"interactive.action.buttons[{n}]: a reply button"
            problem = (_text(reply.get("id"), f"interactive.action.buttons[{n}].reply.id", 256)
                       or _text(reply.get("title"),
                                f"interactive.action.buttons[{n}].reply.title", 20))
            if problem:
                return problem
            ids.add(reply["id"])
        return None if len(ids) == len(buttons) else "button ids must be unique"
    if i.get("type") == "list":
        problem = _text(action.get("button"), "interactive.action.button", 20)
        if problem:
            return problem
        sections = action.get("sections")
        if not isinstance(sections, list) or not 1 <= len(sections) <= 10:
            return "interactive.action.sections: 1-10 sections"
        row_ids: set[str] = set()
        count = 0
        for s, section in enumerate(sections):
            rows = section.get("rows") if isinstance(section, dict) else None
            if not isinstance(rows, list) or not rows:
                return f"interactive.action.sections[{s}].rows: at least one row"
            if len(sections) > 1 and _text(section.get("title"), "section title", 24):
                return f"interactive.action.sections[{s}].title: needed with several sections"
            for r, row in enumerate(rows):
                where = f"interactive.action.sections[{s}].rows[{r}]"
                if not isinstance(row, dict):
                    return f"{where}: an object"
                problem = (_text(row.get("id"), f"{where}.id", 200)
                           or _text(row.get("title"), f"{where}.title", 24)
                           or (None if "description" not in row else
                               _text(row.get("description"), f"{where}.description", 72)))
                if problem:
                    return problem
                row_ids.add(row["id"])
                count += 1
        if count > 10:
            return "interactive list: at most 10 rows"
        return None if len(row_ids) == count else "row ids must be unique"
    return f"interactive.type {i.get('type')!r} is not supported (button, list)"


def graph_app(outbox: Outbox, *, access_token: str, phone_number_id: str) -> Starlette:
    numbers = itertools.count(1)

    async def send(request: Request) -> Response:
        auth = request.headers.get("authorization", "")
        if not auth.startswith("Bearer ") or not hmac.compare_digest(
                auth[7:].encode(), access_token.encode()):
            return _graph_error(401, 190, "Invalid OAuth access token.")
        if request.path_params["phone_number_id"] != phone_number_id:
            return _graph_error(400, 100, "Unsupported post request: unknown phone number id")
        raw = await request.body()
        if len(raw) > 256 * 1024:
            return _graph_error(413, 100, "request too large")
        try:
            body = orjson.loads(raw)
        except orjson.JSONDecodeError:
            return _graph_error(400, 100, "Invalid parameter: the body is not JSON")
        problem = check_message(body)
        if problem:
            return _graph_error(400, 100, f"Invalid parameter: {problem}")
        wamid = f"wamid.SIM{next(numbers):012d}{secrets.token_hex(4).upper()}"
        await outbox.add(SentMessage(wamid, body["to"], body))
        return JSONResponse({"messaging_product": "whatsapp",
                             "contacts": [{"input": body["to"], "wa_id": body["to"]}],
                             "messages": [{"id": wamid}]})

    return Starlette(routes=[Route("/{version}/{phone_number_id}/messages", send,
                                   methods=["POST"])])
