"""``--metrics`` and ``--log-format json`` as a user types them: a part in its own process."""

from __future__ import annotations

import asyncio
import json
import signal

from tests.cli.helpers import finish, start_atmsim
from tests.conftest import free_port


async def test_hsm_serves_metrics_and_logs_json_lines() -> None:
    hsm_port, metrics_port = free_port(), free_port()
    process = await start_atmsim("hsm", "--hsm-port", str(hsm_port), "--metrics",
                                 f"127.0.0.1:{metrics_port}", "--log-format", "json")
    try:
        assert process.stdout is not None
        first = await asyncio.wait_for(process.stdout.readline(), 30)
        assert first.decode().startswith(f"HSM listening on 127.0.0.1:{hsm_port}")
        shown = await asyncio.wait_for(process.stdout.readline(), 5)
        assert f"http://127.0.0.1:{metrics_port}/metrics" in shown.decode()
        # A host asks for diagnostics (NC) and has its answer: counted, and connected.
        host_reader, host_link = await asyncio.open_connection("127.0.0.1", hsm_port)
        host_link.write(b"\x00\x060001NC")
        size = int.from_bytes(await asyncio.wait_for(host_reader.readexactly(2), 5), "big")
        assert (await host_reader.readexactly(size))[4:8] == b"ND00"
        reader, writer = await asyncio.open_connection("127.0.0.1", metrics_port)
        writer.write(b"GET /metrics HTTP/1.1\r\nHost: hsm\r\n\r\n")
        scrape = (await asyncio.wait_for(reader.read(), 5)).decode()
        writer.close()
        host_link.close()
        assert scrape.startswith("HTTP/1.1 200 OK")
        assert "atmsim_hsm_connections_open 1.0" in scrape
        assert 'atmsim_hsm_commands_total{command="NC",error_code="00"} 1.0' in scrape
    finally:
        process.send_signal(signal.SIGINT)
    run = await finish(process, 10)
    assert run.code == 0, run.stderr
    lines = [json.loads(line) for line in run.stderr_lines]
    assert lines and all({"ts", "level", "logger", "message", "part"} <= set(line)
                         for line in lines)
    assert any(line["message"].startswith("HSM listening") and line["part"] == "hsm"
               for line in lines)
