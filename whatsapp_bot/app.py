"""The bot's webhook as an ASGI app (Starlette), and its server (uvicorn) on a loopback
or any address.

* ``GET /webhook?hub.mode=subscribe&hub.verify_token=T&hub.challenge=C``: Meta's
  verification handshake; answers ``C`` (text) when ``T`` is the configured verify token,
  403 otherwise, 400 when a parameter is missing.
* ``POST /webhook``: one delivery. The raw body must carry a valid
  ``X-Hub-Signature-256`` (HMAC-SHA256 under the app secret): none is 401, a wrong one
  403, and nothing is processed. A body over ``max_body`` bytes is 413, one that is not
  JSON or not a delivery 400. A good delivery is processed (each message once) before the
  200, so the replies have been handed to the Graph API when it returns.
* ``GET /healthz``: ``ok``.
"""

from __future__ import annotations

import hmac
import logging

import orjson
from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from whatsapp_bot.service import ChatService
from whatsapp_bot.webhook import MalformedDelivery, inbound_messages, signature_ok

__all__ = ["TooLarge", "read_body", "webhook_app"]

log = logging.getLogger("atmsim.whatsapp")

SIGNATURE_HEADER = "X-Hub-Signature-256"


class TooLarge(Exception):
    pass


async def read_body(request: Request, limit: int) -> bytes:
    """The raw body, refused (``TooLarge``) as soon as it passes ``limit`` bytes."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise TooLarge
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise TooLarge
        chunks.append(chunk)
    return b"".join(chunks)


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


def webhook_app(service: ChatService, *, app_secret: str, verify_token: str,
                max_body: int = 64 * 1024) -> Starlette:
    async def verify(request: Request) -> Response:
        q = request.query_params
        mode, token, challenge = (q.get("hub.mode"), q.get("hub.verify_token"),
                                  q.get("hub.challenge"))
        if not mode or token is None or challenge is None:
            return PlainTextResponse("missing hub.mode, hub.verify_token or hub.challenge",
                                     status_code=400)
        if mode != "subscribe" or not _same(token, verify_token):
            return PlainTextResponse("verification failed", status_code=403)
        return PlainTextResponse(challenge[:256])

    async def deliver(request: Request) -> Response:
        try:
            body = await read_body(request, max_body)
        except TooLarge:
            return _error(413, f"body over {max_body} bytes")
        except ClientDisconnect:
            return _error(400, "incomplete body")
        signature = request.headers.get(SIGNATURE_HEADER)
        if not signature:
            return _error(401, f"missing {SIGNATURE_HEADER}")
        if not signature_ok(body, signature, app_secret):
            log.warning("webhook with a wrong signature refused")
            return _error(403, "bad signature")
        try:
            messages = inbound_messages(orjson.loads(body))
        except orjson.JSONDecodeError:
            return _error(400, "body is not JSON")
        except MalformedDelivery as exc:
            return _error(400, f"not a webhook delivery: {exc}")
        for message in messages:
            await service.receive(message)
        return PlainTextResponse("EVENT_RECEIVED")

    async def health(_: Request) -> Response:
        return PlainTextResponse("ok")

    return Starlette(routes=[Route("/webhook", verify, methods=["GET"]),
                             Route("/webhook", deliver, methods=["POST"]),
                             Route("/healthz", health, methods=["GET"])])


def _same(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())
