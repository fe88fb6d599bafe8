"""One SMPP connection (atmsim.kernel.smpp.session) over a real loopback socket: a busy
peer answers ESME_RTHROTTLED, and a request told to retry gets through."""

from __future__ import annotations

import asyncio

from atmsim.kernel.smpp import Command, Pdu, SmppSession, Status, response_to


async def test_a_busy_peer_throttles_and_a_retrying_request_gets_through() -> None:
    async def slow(session: SmppSession, pdu: Pdu) -> Pdu:
        await asyncio.sleep(0.2)
        return response_to(pdu, message_id="m")

    servers: list[SmppSession] = []

    async def connected(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        session = SmppSession(reader, writer, slow, name="busy", window=1)
        servers.append(session)
        session.start()
        await session.wait_closed()

    server = await asyncio.start_server(connected, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    reader, writer = await asyncio.open_connection("127.0.0.1", port)

    async def unused(session: SmppSession, pdu: Pdu) -> None:
        return None

    client = SmppSession(reader, writer, unused, name="client")
    client.start()
    submit = Pdu(Command.SUBMIT_SM, 0, params={"destination_addr": "2757"})
    try:
        first, second = await asyncio.gather(client.request(submit), client.request(submit))
        assert sorted([first.status, second.status]) == [Status.ESME_ROK,
                                                         Status.ESME_RTHROTTLED]
        answers = await asyncio.gather(*(client.request(submit, throttle_retries=8)
                                         for _ in range(3)))
        assert [a.status for a in answers] == [Status.ESME_ROK] * 3
        assert all(a.get("message_id") == "m" for a in answers)
    finally:
        await client.close()
        for session in servers:
            await session.close()
        server.close()
        await server.wait_closed()
