"""What Meta's webhook delivers: the ``X-Hub-Signature-256`` check and the inbound
messages of a ``whatsapp_business_account`` payload.

A delivery is ``{"object": "whatsapp_business_account", "entry": [{"id", "changes":
[{"field": "messages", "value": {"messaging_product", "metadata", "contacts",
"messages": [...]}}]}]}``; status callbacks (``value.statuses``) carry no message and
are ignored. Each message has ``from`` (the wa_id), ``id`` (wamid), ``timestamp`` and a
``type``: ``text`` (``text.body``), ``interactive`` (``interactive.list_reply`` or
``interactive.button_reply``, each with ``id`` and ``title``), ``button`` (a template's
quick reply: ``button.payload``), or anything else (image, audio, sticker, location...).
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from typing import Any

__all__ = ["Inbound", "MalformedDelivery", "inbound_messages", "sign", "signature_ok"]

_PREFIX = "sha256="
_MAX_TEXT = 4096  # WhatsApp's own limit for a text message


class MalformedDelivery(ValueError):
    """The JSON is not a webhook delivery; the message says where."""


@dataclass(frozen=True)
class Inbound:
    """One message from a user. ``kind``: text, choice (a list row or a reply button:
    ``choice`` is its id) or unsupported (``text`` is the WhatsApp type)."""

    wa_id: str
    message_id: str
    timestamp: str
    kind: str
    text: str = ""
    choice: str = ""
    profile_name: str = ""


def sign(body: bytes, app_secret: str) -> str:
    """The ``X-Hub-Signature-256`` value of ``body``.

    >>> sign(b"The quick brown fox jumps over the lazy dog", "key")
    'sha256=f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8'
    """
    return _PREFIX + hmac.new(app_secret.encode(), body, hashlib.sha256).hexdigest()


def signature_ok(body: bytes, header: str | None, app_secret: str) -> bool:
    """True when ``header`` is the HMAC-SHA256 of the raw ``body`` under the app secret
    (compared in constant time).

    >>> signature_ok(b'{"a":1}', sign(b'{"a":1}', "s3"), "s3")
    True
    >>> signature_ok(b'{"a":2}', sign(b'{"a":1}', "s3"), "s3"), signature_ok(b'x', None, "s3")
    (False, False)
    """
    if not header or not header.startswith(_PREFIX):
        return False
    return hmac.compare_digest(header.encode(), sign(body, app_secret).encode())


def _object(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise MalformedDelivery(f"{where}: not an object")
    return value


def _list(value: Any, where: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise MalformedDelivery(f"{where}: not a list")
    return value


def _string(value: Any, where: str, limit: int = 256) -> str:
    if not isinstance(value, str) or not value or len(value) > limit:
        raise MalformedDelivery(f"{where}: not a string of 1-{limit} characters")
    return value


def inbound_messages(delivery: Any) -> list[Inbound]:
    """The user messages of a delivery, in order; raises ``MalformedDelivery``.

    >>> inbound_messages({"object": "whatsapp_business_account", "entry": [{"id": "1",
    ...     "changes": [{"field": "messages", "value": {"messaging_product": "whatsapp",
    ...     "messages": [{"from": "6281200000001", "id": "wamid.A", "timestamp": "1",
    ...                   "type": "text", "text": {"body": "menu"}}]}}]}]})[0].text
    'menu'
    """
    root = _object(delivery, "body")
    if root.get("object") != "whatsapp_business_account":
        raise MalformedDelivery("object: not whatsapp_business_account")
    found: list[Inbound] = []
    for e, entry in enumerate(_list(root.get("entry"), "entry")):
        for c, raw_change in enumerate(_list(_object(entry, f"entry[{e}]").get("changes"),
                                             f"entry[{e}].changes")):
            where = f"entry[{e}].changes[{c}]"
            change = _object(raw_change, where)
            if change.get("field") != "messages":
                continue
            value = _object(change.get("value"), f"{where}.value")
            names = {}
            for contact in _list(value.get("contacts"), f"{where}.value.contacts"):
                if isinstance(contact, dict) and isinstance(contact.get("wa_id"), str):
                    profile = contact.get("profile")
                    name = profile.get("name") if isinstance(profile, dict) else None
                    names[contact["wa_id"]] = name if isinstance(name, str) else ""
            for m, message in enumerate(_list(value.get("messages"),
                                              f"{where}.value.messages")):
                found.append(_message(_object(message, f"{where}.value.messages[{m}]"),
                                      f"{where}.value.messages[{m}]", names))
    return found


def _message(message: dict[str, Any], where: str, names: dict[str, str]) -> Inbound:
    wa_id = _string(message.get("from"), f"{where}.from", 32)
    if not (wa_id.isascii() and wa_id.isdigit()):
        raise MalformedDelivery(f"{where}.from: not a phone number")
    message_id = _string(message.get("id"), f"{where}.id")
    timestamp = str(message.get("timestamp", ""))[:20]
    kind = message.get("type")
    base = {"wa_id": wa_id, "message_id": message_id, "timestamp": timestamp,
            "profile_name": names.get(wa_id, "")[:64]}
    if kind == "text":
        body = _object(message.get("text"), f"{where}.text").get("body")
        if not isinstance(body, str):
            raise MalformedDelivery(f"{where}.text.body: not a string")
        return Inbound(kind="text", text=body[:_MAX_TEXT], **base)
    if kind == "interactive":
        interactive = _object(message.get("interactive"), f"{where}.interactive")
        reply_type = interactive.get("type")
        if reply_type in ("list_reply", "button_reply"):
            reply = _object(interactive.get(reply_type), f"{where}.interactive.{reply_type}")
            return Inbound(kind="choice", choice=_string(reply.get("id"), f"{where}.id"),
                           text=str(reply.get("title", ""))[:72], **base)
        return Inbound(kind="unsupported", text=f"interactive/{reply_type}"[:40], **base)
    if kind == "button":
        button = _object(message.get("button"), f"{where}.button")
        payload = button.get("payload") or button.get("text")
        return Inbound(kind="choice", choice=_string(payload, f"{where}.button.payload"),
                       text=str(button.get("text", ""))[:72], **base)
    return Inbound(kind="unsupported", text=str(kind)[:40], **base)
