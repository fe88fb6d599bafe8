"""The ATM's connection to its switch: ISO 8583 over TCP with replies matched by 41 + 11.

One connection, nothing more: :class:`terminal_ui.device.client.AtmClient` (``from atmsim
import AtmClient``) owns one at a time and adds sign-on, idle echo, reconnection and the
inquiry itself; the Textual ATM, ``atmsim inquire``, ``atmsim demo --headless`` and the
load generator all go through it. Used alone::

    async with AtmHostLink("127.0.0.1", 8583, terminal_id="BNI00001") as link:
        await link.sign_on()
        response = await link.exchange(request)

Many requests may be in flight at once; each waits for the reply that carries its own
terminal ID and STAN and the response MTI of its request (0210 for an 0200), up to
``timeout`` seconds (30 s by default, as an ATM waits). A reply that matches nothing is
logged with the nearest pending request and what differs (``atmsim.kernel.unmatched``).

With a ``pinpad`` holding a TAK and ``send_mac``, every 0200 (and any request but the
0800s) carries a MAC (field 64 or 128, docs/wire.md); a reply with a MAC is verified, and
a reply to a MACed request that is approved without one, or whose MAC is wrong, is
refused (:class:`HostUnavailable`): it may be forged.

With an ``ssl.SSLContext`` as ``tls`` the connection is TLS (``server_hostname``: the name
the switch's certificate must carry, by default ``host``); the handshake counts against
``connect_timeout``.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import secrets
import socket
import ssl
import time
from collections.abc import Callable
from datetime import UTC, datetime

from atmsim.kernel.unmatched import MatchKey, UnmatchedReplyLog, iso_reply_key, response_type
from atmsim.kernel.wire import (
    FrameError,
    Framing,
    IsoMessage,
    WireError,
    WireProfile,
    default_profile,
    read_frame,
)
from atmsim.kernel.wire.additional_data import decode_tlv
from atmsim.kernel.wire.message_mac import (
    MAC_FIELDS,
    mac_field,
    mac_of_field,
    received_mac_input,
    with_mac,
)
from terminal_ui.device.pinpad import KeyInstallError, PinPad

__all__ = ["AtmHostLink", "HostUnavailable", "HostLost", "HostTimeout", "StanSequence",
           "KEY_CHANGE", "KEY_REFUSED"]

KEY_CHANGE = "161"
# The 0810 code with which the ATM refuses keys it cannot install (a check value that does
# not match, a malformed key): 63, security violation; it keeps its old keys.
KEY_REFUSED = "63"

log = logging.getLogger("atmsim.atm")


class HostUnavailable(ConnectionError):
    """No connection to the switch."""


class HostLost(HostUnavailable):
    """The connection broke after the request went out: it may have reached the switch,
    and no answer will come (an ATM reverses such a request, as after a timeout)."""


class HostTimeout(TimeoutError):
    """The switch did not answer in time. ``request`` is the message that went unanswered
    (for an 0200: the original a reversal names)."""

    def __init__(self, message: str, request: IsoMessage | None = None) -> None:
        super().__init__(message)
        self.request = request


class StanSequence:
    """A terminal's STANs (field 11): ``first``-``last`` (000001-999999) in turn, from a
    random start, so that two links of one terminal in the same second do not repeat a
    (terminal, STAN, time) the switch takes for a duplicate. A narrower range keeps the
    STANs of one load segment apart from another's (``atmsim load --segment``).

    >>> stans = StanSequence(7, 9)
    >>> sorted({stans() for _ in range(6)})
    ['000007', '000008', '000009']
    """

    def __init__(self, first: int = 1, last: int = 999_999) -> None:
        if not 1 <= first <= last <= 999_999:
            raise ValueError(f"STAN range {first}-{last}: must lie within 1-999999")
        self._first, self._size = first, last - first + 1
        self._count = itertools.count(secrets.randbelow(self._size))

    def __call__(self) -> str:
        return f"{self._first + next(self._count) % self._size:06d}"


class AtmHostLink:
    def __init__(self, host: str, port: int, *, terminal_id: str, acquirer_id: str = "009",
                 profile: WireProfile | None = None, framing: Framing | None = None,
                 timeout: float = 30.0, connect_timeout: float = 10.0,
                 pinpad: PinPad | None = None, send_mac: bool = False,
                 tls: ssl.SSLContext | None = None, server_hostname: str | None = None,
                 stans: StanSequence | None = None,
                 on_timeout: Callable[[IsoMessage], None] | None = None) -> None:
        self.host = host
        self.port = port
        self.terminal_id = terminal_id
        self.acquirer_id = acquirer_id
        self.profile = profile or default_profile()
        self.framing = framing or Framing(self.profile.framing)
        self.timeout = timeout
        self.connect_timeout = connect_timeout
        self.tls = tls
        self.server_hostname = server_hostname
        # monotonic time of the last frame sent or received: what "idle" is measured from
        self.last_activity = time.monotonic()
        self._gone = asyncio.Event()  # set when the connection has ended, for whatever cause
        self.lost_because = ""  # why the switch's side ended it (a TLS alert, a reset...)
        self.next_stan = stans or StanSequence()
        # Called with each request that went unanswered in time, before HostTimeout is
        # raised: where a reversal (0420) of a timed-out 0200 is queued.
        self.on_timeout = on_timeout
        self._writer: asyncio.StreamWriter | None = None
        self._reader_task: asyncio.Task[None] | None = None
        self._pending: dict[tuple[str, str], asyncio.Future[IsoMessage]] = {}
        self.pinpad = pinpad
        self.send_mac = send_mac and pinpad is not None and pinpad.has_tak
        self._maced: set[tuple[str, str]] = set()  # requests sent with a MAC
        self._sent: dict[tuple[str, str], tuple[str, float]] = {}  # key: request MTI, when
        self.unmatched = UnmatchedReplyLog(log, f"ATM link to {host}:{port}")

    async def __aenter__(self) -> AtmHostLink:
        await self.connect()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @property
    def connected(self) -> bool:
        return self._writer is not None and not self._writer.is_closing()

    async def connect(self) -> None:
        tls = self.tls
        try:
            reader, writer = await asyncio.wait_for(asyncio.open_connection(
                self.host, self.port, ssl=tls,
                server_hostname=(self.server_hostname or self.host) if tls else None,
                ssl_handshake_timeout=self.connect_timeout if tls else None),
                self.connect_timeout)
        except ssl.SSLError as exc:  # before OSError: it is one
            raise HostUnavailable(f"TLS with the switch at {self.host}:{self.port} failed: "
                                  f"{exc.reason or exc}") from None
        except (TimeoutError, OSError) as exc:
            raise HostUnavailable(f"cannot reach the switch at {self.host}:{self.port}: "
                                  f"{exc or 'timeout'}") from None
        self._gone.clear()
        self.lost_because = ""
        self.last_activity = time.monotonic()
        sock = writer.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._writer = writer
        self._reader_task = asyncio.create_task(self._read_replies(reader))

    async def close(self) -> None:
        if self._reader_task:
            self._reader_task.cancel()
            try:
                await self._reader_task
            except asyncio.CancelledError:
                pass
            self._reader_task = None
        if self._writer:
            self._writer.close()
            try:
                await self._writer.wait_closed()
            except (ConnectionError, OSError):
                pass
            self._writer = None
        self._gone.set()
        self._fail_pending(HostLost("link closed"))

    async def wait_closed(self) -> None:
        """Return when the connection has ended (closed here, by the switch, or lost)."""
        await self._gone.wait()

    async def exchange(self, request: IsoMessage, timeout: float | None = None, *,
                       sealed: bool = False) -> IsoMessage:
        """Send one request and wait for its reply (matched by fields 41 and 11).
        ``sealed``: the request already went through :meth:`seal` (it is not MACed again)."""
        writer = self._writer
        if writer is None or writer.is_closing():
            if writer is not None and not self._gone.is_set():
                # Closing but not yet read to its end: wait a moment for the reason why.
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._gone.wait(), 1.0)
            raise HostUnavailable("not connected to the switch" + (
                f": {self.lost_because}" if self.lost_because else ""))
        key = (request.get("41", ""), request.get("11", ""))
        future: asyncio.Future[IsoMessage] = asyncio.get_running_loop().create_future()
        self._pending[key] = future
        if self._macs(request):
            if not sealed:
                request = self.seal(request)
            self._maced.add(key)
        self._sent[key] = (request.get("t", ""), time.monotonic())
        try:
            writer.write(self.framing.frame(self.profile.header.value
                                            + self.profile.encode(request)))
            self.last_activity = time.monotonic()
            return await asyncio.wait_for(future, timeout or self.timeout)
        except TimeoutError:
            self.unmatched.timed_out(self._pending_key(key))
            if self.on_timeout is not None:
                self.on_timeout(request)
            raise HostTimeout(f"no reply to STAN {key[1]} within "
                              f"{timeout or self.timeout:.0f}s", request) from None
        except HostLost:
            raise
        except (ConnectionError, OSError) as exc:
            raise HostLost(f"connection to the switch lost: {exc}") from None
        finally:
            self._pending.pop(key, None)
            self._maced.discard(key)
            self._sent.pop(key, None)

    def seal(self, request: IsoMessage) -> IsoMessage:
        """``request`` as this link sends it: with its MAC (field 64 or 128) when the link
        MACs and the request is not an 0800; the same object otherwise. Sealing twice
        gives the same message."""
        if self._macs(request):
            assert self.pinpad is not None
            return with_mac(self.profile, request, self.pinpad.mac)
        return request

    def _macs(self, request: IsoMessage) -> bool:
        """Whether this link MACs ``request``: it has a TAK to, and it is not an 0800."""
        return self.send_mac and self.pinpad is not None and not request["t"].startswith("08")

    def _mac_problem(self, raw: bytes, reply: IsoMessage, key: tuple[str, str]) -> str | None:
        """Why a reply's MAC is not to be trusted, or None when it is (or needs none)."""
        present = [f for f in MAC_FIELDS if f in reply]
        if not present:
            if key in self._maced and reply.get("39") == "00":
                return "an approval without a MAC"
            return None
        if self.pinpad is None or not self.pinpad.has_tak:
            return None  # no TAK to check it with: a MAC the ATM cannot read is ignored
        mac = mac_of_field(reply.get(mac_field({k: v for k, v in reply.items()
                                                if k not in MAC_FIELDS}), ""))
        data = received_mac_input(raw, reply)
        if mac is None or data is None or self.pinpad.mac(data) != mac:
            return "a wrong MAC"
        return None

    def _unmatched_reply(self, raw: bytes) -> None:
        self.unmatched.unmatched(iso_reply_key(raw, self.profile),
                                 [self._pending_key(key) for key in self._pending])

    def _pending_key(self, key: tuple[str, str]) -> MatchKey:
        mti, sent = self._sent.get(key, ("", time.monotonic()))
        return MatchKey(mti, key[0], key[1], age=time.monotonic() - sent)

    async def network_management(self, code: str, timeout: float | None = None) -> IsoMessage:
        """An 0800 with field 70 = ``code`` (001 sign-on, 002 sign-off, 301 echo)."""
        now = datetime.now(UTC)
        return await self.exchange({"t": "0800", "7": now.strftime("%m%d%H%M%S"),
                                    "11": self.next_stan(), "41": self.terminal_id,
                                    "70": code}, timeout)

    async def change_keys(self) -> int:
        """Ask the switch for new keys (0800/161) and install them in the PIN pad; returns
        the new key generation. ``KeyInstallError`` when they are refused (wrong check
        value): the PIN pad keeps its keys, and the refusal is logged."""
        if self.pinpad is None:
            raise KeyInstallError("this link has no PIN pad to install keys in")
        reply = await self.network_management(KEY_CHANGE)
        if reply.get("39") != "00":
            raise KeyInstallError(f"the switch answered the key change {reply.get('39')}")
        try:
            return self.pinpad.install_keys(decode_tlv(reply.get("48", "")))
        except (KeyInstallError, ValueError) as exc:
            log.warning("terminal %s refused new keys: %s", self.terminal_id, exc)
            raise KeyInstallError(str(exc)) from None

    def _answer_switch(self, request: IsoMessage) -> None:
        """A request from the switch (an 0800): a key change installs the keys it carries;
        echo tests are answered; the answer is 0810 with 00 or the refusal."""
        code = "12"
        if request.get("70") == "301":
            code = "00"
        elif request.get("70") == KEY_CHANGE and self.pinpad is not None:
            try:
                generation = self.pinpad.install_keys(decode_tlv(request.get("48", "")))
                log.info("terminal %s installed key generation %d from the switch",
                         self.terminal_id, generation)
                code = "00"
            except (KeyInstallError, ValueError) as exc:
                log.warning("terminal %s refused new keys from the switch: %s",
                            self.terminal_id, exc)
                code = KEY_REFUSED
        answer: IsoMessage = {"t": "0810"}
        for number in ("7", "11", "32", "37", "41"):
            if number in request:
                answer[number] = request[number]
        answer["39"] = code
        answer["70"] = request.get("70", "")
        writer = self._writer
        if writer is not None and not writer.is_closing():
            writer.write(self.framing.frame(self.profile.encode(answer)))

    async def sign_on(self) -> IsoMessage:
        return await self.network_management("001")

    async def echo(self) -> IsoMessage:
        return await self.network_management("301")

    async def _read_replies(self, reader: asyncio.StreamReader) -> None:
        answered = False  # a frame came on this connection
        try:
            while True:
                raw = await read_frame(reader, self.framing)
                if raw is None:
                    if self.tls is not None and not answered:
                        # asyncio reports a TLS alert after the handshake as a plain end
                        self.lost_because = ("closed by the switch before any reply; with "
                                             "TLS: does it require a client certificate "
                                             "(atm.tls_cert) it trusts?")
                    break
                answered = True
                self.last_activity = time.monotonic()
                try:
                    # The header (a TPDU) only routes the reply to this ATM: not checked.
                    body = self.profile.split_header(raw)[1]
                    reply = self.profile.decode(body)
                except WireError as exc:
                    log.warning("switch sent a message that does not decode: %s", exc)
                    self._unmatched_reply(raw)
                    continue
                if reply["t"][2:3] in ("0", "2"):  # a request or advice from the switch
                    self._answer_switch(reply)
                    continue
                key = (reply.get("41", ""), reply.get("11", ""))
                if key not in self._pending and "41" not in reply:
                    # A format-error reply may lack 41: fall back to the STAN alone.
                    key = next((k for k in self._pending if k[1] == key[1]), key)
                future = self._pending.get(key)
                if (future is not None and not future.done()
                        and reply.get("t") == response_type(self._sent[key][0])):
                    problem = self._mac_problem(body, reply, key)
                    if problem is None:
                        future.set_result(reply)
                    else:
                        log.warning("refused the switch's reply to STAN %s: %s", key[1], problem)
                        future.set_exception(HostUnavailable(
                            f"the switch's reply failed its MAC check ({problem})"))
                else:
                    self._unmatched_reply(raw)
        except ssl.SSLError as exc:  # e.g. the switch wants a client certificate
            self.lost_because = f"TLS: {exc.reason or exc}"
            log.warning("connection to the switch lost: %s", self.lost_because)
        except (FrameError, asyncio.IncompleteReadError, ConnectionError, OSError) as exc:
            self.lost_because = str(exc) or type(exc).__name__
            log.warning("connection to the switch lost: %s", exc)
        finally:
            if self._writer is not None:
                self._writer.close()
            self._gone.set()
            self._fail_pending(HostLost("connection to the switch closed" + (
                f": {self.lost_because}" if self.lost_because else "")))

    def _fail_pending(self, error: Exception) -> None:
        for future in self._pending.values():
            if not future.done():
                future.set_exception(error)
