"""``atmsim up --otel URL``: a real back-end process sends its spans by OTLP/HTTP to the
collector at URL, here a small receiver in the test that decodes the protobuf; one
inquiry arrives as one trace of the switch's and the ledger's spans, on Mosquitto (MQTT 5)
and on amqtt (MQTT 3.1.1). A bad URL is one line, exit 2."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from terminal_ui.device.host_link import AtmHostLink
from tests.conftest import free_port, require_broker
from tests.e2e.atm import card, inquire

ROOT = Path(__file__).resolve().parents[2]
SECRET_SHAPED = re.compile(r"[0-9]{11,19}")


class Collector(ThreadingHTTPServer):
    """An OTLP/HTTP trace receiver: every span POSTed to /v1/traces, with its service."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Receive)
        self.spans: list[tuple[str, Span]] = []
        self.content_types: set[str] = set()
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Receive(BaseHTTPRequestHandler):
    server: Collector

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        if self.path != "/v1/traces":
            self.send_error(404)
            return
        request = ExportTraceServiceRequest()
        request.ParseFromString(body)
        with self.server.lock:
            self.server.content_types.add(self.headers.get("Content-Type", ""))
            for resource_spans in request.resource_spans:
                names = {a.key: a.value.string_value
                         for a in resource_spans.resource.attributes}
                for scope_spans in resource_spans.scope_spans:
                    for span in scope_spans.spans:
                        self.server.spans.append((names.get("service.name", ""), span))
        answer = ExportTraceServiceResponse().SerializeToString()
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def collector() -> Iterator[Collector]:
    server = Collector()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def attributes(span: Span) -> dict[str, str]:
    return {a.key: a.value.string_value or str(a.value.int_value) for a in span.attributes}


@pytest.mark.parametrize("broker", ["mosquitto", "amqtt"])
async def test_atmsim_up_sends_one_trace_per_inquiry(broker: str, collector: Collector,
                                                     tmp_path: Path) -> None:
    require_broker(broker)
    switch_port = free_port()
    env = {**os.environ, "ATMSIM_DATA_DIR": str(tmp_path / "data")}
    env.pop("ATMSIM_OTEL_URL", None)
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "atmsim.shell.cli", "up", "--otel", collector.url,
        "--switch-port", str(switch_port), "--hsm-port", str(free_port()),
        "--mqtt-port", str(free_port()), "--broker", broker, cwd=ROOT, env=env,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert proc.stdout is not None
        async with asyncio.timeout(60):
            while not (line := await proc.stdout.readline()).startswith(b"try:"):
                assert line, "atmsim up ended before it was up"
        siti = card("Siti")
        async with AtmHostLink("127.0.0.1", switch_port, terminal_id="BNI00001",
                               timeout=30) as link:
            await link.sign_on()
            _, result = await inquire(link, siti)
        assert result.response_code == "00"
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGINT)  # the orderly stop sends what is still queued
        async with asyncio.timeout(30):
            _, stderr = await proc.communicate()
    assert proc.returncode == 0, stderr.decode()

    with collector.lock:
        spans = list(collector.spans)
    assert collector.content_types == {"application/x-protobuf"}
    [(switch, server)] = [(s, span) for s, span in spans if span.name == "iso8583 0200"]
    assert switch == "atmsim-switch" and server.kind == Span.SPAN_KIND_SERVER
    assert attributes(server)["iso8583.response_code"] == "00"
    trace = [(s, span) for s, span in spans if span.trace_id == server.trace_id]
    by_name = {span.name: (s, span) for s, span in trace}
    _, request = by_name["bpjs/jht/v1/balance/req request"]
    ledger_service, ledger = by_name["bpjs/jht/v1/balance/req process"]
    assert ledger_service == "atmsim-ledger" and ledger.parent_span_id == request.span_id
    assert by_name["query balance"][1].parent_span_id == ledger.span_id
    assert any(name.startswith("hsm ") and s == "atmsim-switch" for name, (s, _) in
               by_name.items())
    assert "atmsim-hsm" in {s for s, _ in spans}  # the HSM's own spans, traces of their own
    for _, span in spans:
        for value in attributes(span).values():
            assert not SECRET_SHAPED.fullmatch(value), (span.name, value)
            assert siti.pan not in value and siti.nik not in value


def test_a_bad_collector_url_is_one_line(tmp_path: Path) -> None:
    env = {**os.environ, "ATMSIM_DATA_DIR": str(tmp_path / "data"),
           "ATMSIM_OTEL_URL": "collector:4318"}
    result = subprocess.run([sys.executable, "-m", "atmsim.shell.cli", "up",
                             "--switch-port", str(free_port())], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 2
    assert result.stderr.strip() == ("atmsim: otel.url from ATMSIM_OTEL_URL: 'collector:4318' "
                                     "is not an http:// or https:// URL (e.g. "
                                     "http://127.0.0.1:4318)")
