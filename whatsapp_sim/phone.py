"""A simulated user's phone: what they type or pick becomes the webhook delivery Meta
would post to the bot, signed with the app secret (``X-Hub-Signature-256``).
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import secrets
import time
from typing import Any

import httpx
import orjson

__all__ = ["Phone", "choice_message", "delivery", "signature", "text_message"]

_numbers = itertools.count(1)


def signature(body: bytes, app_secret: str) -> str:
    return "sha256=" + hmac.new(app_secret.encode(), body, hashlib.sha256).hexdigest()


def _base(wa_id: str, kind: str) -> dict[str, Any]:
    return {"from": wa_id, "id": f"wamid.PHONE{next(_numbers):010d}{secrets.token_hex(6)}",
            "timestamp": str(int(time.time())), "type": kind}


def text_message(wa_id: str, text: str) -> dict[str, Any]:
    return {**_base(wa_id, "text"), "text": {"body": text}}


def choice_message(wa_id: str, choice_id: str, title: str, *, kind: str = "list_reply",
                   context_id: str | None = None) -> dict[str, Any]:
    message = {**_base(wa_id, "interactive"),
               "interactive": {"type": kind, kind: {"id": choice_id, "title": title}}}
    if context_id:
        message["context"] = {"from": "6281380070175", "id": context_id}
    return message


def delivery(messages: list[dict[str, Any]], *, phone_number_id: str,
             display_number: str = "6281380070175",
             profile_name: str = "Pengguna") -> dict[str, Any]:
    """The webhook body for ``messages`` (``entry[].changes[].value.messages[]``)."""
    contacts = [{"profile": {"name": profile_name}, "wa_id": wa}
                for wa in dict.fromkeys(m["from"] for m in messages)]
    return {"object": "whatsapp_business_account", "entry": [{
        "id": "102290129340398", "changes": [{"field": "messages", "value": {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": display_number,
                         "phone_number_id": phone_number_id},
            "contacts": contacts, "messages": messages}}]}]}


class Phone:
    """Posts signed deliveries to a bot's webhook. ``await phone.say("menu")``."""

    def __init__(self, webhook_url: str, wa_id: str, *, app_secret: str,
                 phone_number_id: str, profile_name: str = "Pengguna") -> None:
        self.url, self.wa_id = webhook_url, wa_id
        self._secret, self._phone_number_id = app_secret, phone_number_id
        self.profile_name = profile_name
        self.client = httpx.AsyncClient(timeout=30)

    async def post(self, message: dict[str, Any], *, secret: str | None = None
                   ) -> httpx.Response:
        body = orjson.dumps(delivery([message], phone_number_id=self._phone_number_id,
                                     profile_name=self.profile_name))
        return await self.post_raw(body, signature(body, secret or self._secret))

    async def post_raw(self, body: bytes, signature_header: str | None) -> httpx.Response:
        headers = {"Content-Type": "application/json"}
        if signature_header is not None:
            headers["X-Hub-Signature-256"] = signature_header
        return await self.client.post(self.url, content=body, headers=headers)

    async def say(self, text: str) -> httpx.Response:
        return await self.post(text_message(self.wa_id, text))

    async def pick(self, choice_id: str, title: str = "", *, kind: str = "list_reply"
                   ) -> httpx.Response:
        return await self.post(choice_message(self.wa_id, choice_id, title or choice_id,
                                              kind=kind))

    async def close(self) -> None:
        await self.client.aclose()
