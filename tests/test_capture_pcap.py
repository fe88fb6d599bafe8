"""A pcap is read back frame by frame whatever TCP did to it: a frame split over segments,
segments out of order, a retransmission, two frames in one segment."""

from __future__ import annotations

import socket
from pathlib import Path

import dpkt

from atmsim.kernel.wire import Framing, default_profile
from atmsim.shell.capture import read_capture
from atmsim.shell.replay import pair_exchanges

PROFILE, FRAMING = default_profile(), Framing()
ATM, SWITCH = ("10.0.0.7", 40512), ("10.0.0.5", 8583)


def _message(mti: str, stan: str) -> bytes:
    return FRAMING.frame(PROFILE.encode({"t": mti, "7": "1202010203", "11": stan,
                                         "41": "BNI00001", "70": "301"}))


def _packet(src: tuple[str, int], dst: tuple[str, int], seq: int, data: bytes = b"",
            flags: int = dpkt.tcp.TH_ACK) -> bytes:
    tcp = dpkt.tcp.TCP(sport=src[1], dport=dst[1], seq=seq, flags=flags, data=data)
    ip = dpkt.ip.IP(src=socket.inet_aton(src[0]), dst=socket.inet_aton(dst[0]),
                    p=dpkt.ip.IP_PROTO_TCP, data=tcp)
    ip.len = len(bytes(ip))
    return bytes(dpkt.ethernet.Ethernet(src=b"\x00" * 6, dst=b"\x00" * 6,
                                        type=dpkt.ethernet.ETH_TYPE_IP, data=ip))


def test_frames_come_out_whole_and_in_order(tmp_path: Path) -> None:
    requests = _message("0800", "000001") + _message("0800", "000002")
    first, rest = requests[:10], requests[10:]
    replies = _message("0810", "000001") + _message("0810", "000002")
    packets = [
        _packet(ATM, SWITCH, 999, flags=dpkt.tcp.TH_SYN),
        _packet(SWITCH, ATM, 4999, flags=dpkt.tcp.TH_SYN | dpkt.tcp.TH_ACK),
        _packet(ATM, SWITCH, 1000 + len(first), rest),  # out of order: the second part first
        _packet(ATM, SWITCH, 1000, first),
        _packet(ATM, SWITCH, 1000, first),  # a retransmission
        _packet(SWITCH, ATM, 5000, replies),  # two frames in one segment
    ]
    path = tmp_path / "split.pcap"
    with path.open("wb") as file:
        writer = dpkt.pcap.Writer(file)
        for n, packet in enumerate(packets):
            writer.writepkt(packet, ts=1_764_637_200 + n / 10)

    frames = read_capture(path, PROFILE, FRAMING)
    assert [(f.direction, f.fields["t"], f.fields["11"]) for f in frames] == [
        ("c2s", "0800", "000001"), ("c2s", "0800", "000002"),
        ("s2c", "0810", "000001"), ("s2c", "0810", "000002")]
    assert all(f.raw is not None and f.error is None for f in frames)
    exchanges = pair_exchanges(frames)
    assert [(e.request.fields["11"], e.reply and e.reply.fields["11"]) for e in exchanges] == [
        ("000001", "000001"), ("000002", "000002")]
