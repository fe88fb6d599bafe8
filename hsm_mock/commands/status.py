"""Status and health commands: NO (HSM status), NI (host port), J2 (loading), J4 (command
volumes), J8 (health check counts), JK (instantaneous health check).

Monitoring tools send these to a payShield to draw dashboards and raise alarms. The
figures are this process's own (:class:`hsm_mock.status.HsmStatus`): uptime, commands
answered, time spent on them, the connections held. Layouts follow the payShield 10K
host command replies; dates are YYMMDD and times HHMMSS (UTC).
"""

from __future__ import annotations

import ipaddress
from datetime import datetime, timedelta

from atmsim.kernel.crypto.errors import INVALID_INPUT, HsmError
from hsm_mock.commands import Command
from hsm_mock.context import HsmContext
from hsm_mock.fields import FieldReader
from hsm_mock.status import LOAD_BANDS, UNKNOWN_COMMAND_CODE, HsmStatus

__all__ = [
    "COMMANDS",
    "command_volumes",
    "health_check_counts",
    "host_port_info",
    "hsm_loading",
    "hsm_status",
    "instantaneous_health",
]

INVALID_ETHERNET_STATISTICS = "82"  # NI: the statistics selector is not 0 or 1
_IO_BUFFER_32K = "3"
_TCP = "1"  # NO's connection type: 0 UDP, 1 TCP
_MAX_TCP_SOCKETS = 64  # a payShield 10K host port takes up to 64 TCP clients
_HOST_PORT = "1"  # this mock has one host port: Ethernet host port 1
_PCI_COMPLIANT = "1"
_PCI_NOT_COMPLIANT = "0"
_LMK_RECORD_END = "\x14"
_LMK_LIST_END = "\x15"


def hsm_status(fields: FieldReader, ctx: HsmContext) -> bytes:
    """NO: mode 00 (I/O buffer, connection type, TCP sockets, firmware) or 01 (PCI HSM
    compliance of the security settings: 1 compliant, 0 not)."""
    mode = fields.numeric(2, "mode")
    fields.finish()
    if mode == "00":
        return (_IO_BUFFER_32K + _TCP + f"{_MAX_TCP_SOCKETS:04d}" + ctx.firmware
                + "0" + "0000").encode("ascii")
    if mode == "01":
        compliant = ctx.security.pci_hsm_compliant
        return (_PCI_COMPLIANT if compliant else _PCI_NOT_COMPLIANT).encode("ascii")
    raise HsmError(INVALID_INPUT, field="mode")


def host_port_info(fields: FieldReader, ctx: HsmContext) -> bytes:
    """NI: the connections of a host port (protocol, ports, peer, state, duration) and
    its traffic totals. Port 1 is this HSM's listener; port 2 has no connections."""
    port = fields.numeric(1, "ethernet_port")
    statistics = fields.numeric(1, "statistics")
    fields.finish()
    if port not in ("1", "2"):
        raise HsmError(INVALID_INPUT, field="ethernet_port")
    if statistics not in ("0", "1"):
        raise HsmError(INVALID_ETHERNET_STATISTICS, field="statistics")
    status = ctx.status
    connections = list(status.connections.values()) if port == _HOST_PORT else []
    now = status.clock()
    records = "".join(
        "0"  # TCP
        + f"{c.local_port:04X}"
        + _ipv4_hex(c.peer_host)
        + f"{c.peer_port:04X}"
        + "0"  # established
        + f"{min(int(now - c.opened), 99_999_999):08d}"
        for c in connections
    )
    totals = (
        f"{status.bytes_sent:016X}{status.bytes_received:016X}"
        f"{status.frames_sent:08X}{status.frames_received:08X}"
        + "0" * 8 * 7  # non-unicast sent/received, discards, errors, unknown: none here
    )
    return (f"{len(connections):04d}" + records + totals).encode("ascii")


def hsm_loading(fields: FieldReader, ctx: HsmContext) -> bytes:
    """J2: seconds of one-second periods per utilisation band since the start."""
    fields.finish()
    histogram = ctx.status.load_histogram()
    bands = "".join(
        f"{start:03d}{end:03d}{histogram[(start, end)]:010d};" for start, end in LOAD_BANDS
    )
    return (_report_header(ctx.status) + bands).encode("ascii")


def command_volumes(fields: FieldReader, ctx: HsmContext) -> bytes:
    """J4: how many of each host command were answered since the start."""
    fields.finish()
    counts = ctx.status.command_counts
    volumes = "".join(
        f"{code}{min(counts[code], 10**12 - 1):012d}"
        for code in sorted(counts)
        if code != UNKNOWN_COMMAND_CODE
    )
    return (_report_header(ctx.status) + volumes).encode("ascii")


def health_check_counts(fields: FieldReader, ctx: HsmContext) -> bytes:
    """J8: reboots, tampers, PIN verifications in the last minute and hour, PIN attacks."""
    fields.finish()
    status = ctx.status
    now = status.clock()
    per_minute = min(status.pin_verifications_since(now - 60), 9_999_999)
    per_hour = min(status.pin_verifications_since(now - 3600), 99_999)
    return (
        _report_header(status, with_seconds=False)
        + f"{0:010d}{0:010d}{per_minute:07d}{per_hour:05d}{0:08d}"
    ).encode("ascii")


def instantaneous_health(fields: FieldReader, ctx: HsmContext) -> bytes:
    """JK: serial, clock, console/manager/host states, tamper state, the LMKs loaded,
    fraud-detection flags."""
    fields.finish()
    now = ctx.status.now()
    lmk_ids = sorted(ctx.lmk_ids)
    # id, authorised (0), authorised activities (00), scheme V(ariant), algorithm 0 (2-key
    # TDES), status T(est) for the published test LMK else L(ive), comment.
    test = ctx.lmk.is_test_lmk
    lmks = "".join(
        f"{lmk_id}000V0{'T' if test else 'L'}{'test LMK' if test else 'LMK'}{_LMK_RECORD_END}"
        for lmk_id in lmk_ids
    )
    return (
        ctx.status.serial_number
        + _date(now) + _time(now)
        + "2"  # console: not running (no console on this mock)
        + "2"  # payShield Manager: not running
        + "1"  # host port 1: running
        + "3"  # host port 2: not configured
        + "00"  # reserved
        + "1"  # not tampered
        + f"{len(lmk_ids):02d}{len(lmk_ids) if test else 0:02d}00"
        + lmks + _LMK_LIST_END
        + "00"  # fraud detection limits: not exceeded; PIN attack limit: not exceeded
    ).encode("ascii")


def _report_header(status: HsmStatus, *, with_seconds: bool = True) -> str:
    """Serial number, start, end and current date/time, [seconds covered]: the start of
    the J2/J4/J8 reports. The period reported is from the start of the process to now."""
    now = status.now()
    seconds = int(status.uptime)
    start = now - timedelta(seconds=seconds)
    header = (status.serial_number + _date(start) + _time(start) + _date(now) + _time(now)
              + _date(now) + _time(now))
    return header + (f"{min(seconds, 9_999_999_999):010d}" if with_seconds else "")


def _date(moment: datetime) -> str:
    return moment.strftime("%y%m%d")


def _time(moment: datetime) -> str:
    return moment.strftime("%H%M%S")


def _ipv4_hex(host: str) -> str:
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return "0" * 8
    if isinstance(address, ipaddress.IPv6Address):
        address = address.ipv4_mapped or ipaddress.IPv4Address(0)
    return f"{int(address):08X}"


COMMANDS = (
    Command("NO", "HSM status", hsm_status),
    Command("NI", "host port information", host_port_info),
    Command("J2", "HSM loading", hsm_loading),
    Command("J4", "host command volumes", command_volumes),
    Command("J8", "health check accumulated counts", health_check_counts),
    Command("JK", "instantaneous health check status", instantaneous_health),
)
