"""The Graph API client: ``POST {graph_url}/{version}/{phone-number-id}/messages`` with the
bearer token, one reply at a time (so they arrive in order)."""

from __future__ import annotations

import logging

import httpx

from whatsapp_bot.graph_json import Reply, to_graph

__all__ = ["GraphClient", "GraphError"]

log = logging.getLogger("atmsim.whatsapp")


class GraphError(RuntimeError):
    """The Graph API refused a message or could not be reached."""


class GraphClient:
    def __init__(self, graph_url: str, version: str, phone_number_id: str, access_token: str,
                 *, timeout: float = 10.0) -> None:
        self.url = f"{graph_url.rstrip('/')}/{version}/{phone_number_id}/messages"
        self._client = httpx.AsyncClient(
            timeout=timeout, headers={"Authorization": f"Bearer {access_token}"})

    async def send(self, reply: Reply, to: str) -> str:
        """Send one reply; the wamid the API gave it. Raises ``GraphError``."""
        try:
            response = await self._client.post(self.url, json=to_graph(reply, to))
        except httpx.HTTPError as exc:
            raise GraphError(f"Graph API unreachable: {type(exc).__name__}") from None
        if response.status_code != 200:
            try:
                message = response.json()["error"]["message"]
            except (ValueError, KeyError, TypeError):
                message = response.text[:200]
            raise GraphError(f"Graph API {response.status_code}: {message}")
        try:
            return str(response.json()["messages"][0]["id"])
        except (ValueError, KeyError, IndexError, TypeError):
            raise GraphError("Graph API: a reply without a message id") from None

    async def close(self) -> None:
        await self._client.aclose()
