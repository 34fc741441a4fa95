"""Make ``tests/data/hastack_lo.pcap``: a real capture of hastack datagrams on loopback.

Two UDP sockets stand for node 1 (127.0.0.1:5405) and node 2 (127.0.0.2:5405), as
Corosync's udpu transport would use them; each sends datagrams made by
``PacketCodec`` (cluster "lab", cipher none) for every message type while scapy sniffs
``lo``; the receiving side decodes each with its own codec and the script fails if any
is dropped. One message is large enough to be sent as two fragments, and a last one is
sent by a third codec with ``cipher aes256`` (its body is opaque to the scapy layer).

Needs root (raw capture). Usage: ``python tests/data/capture_hastack.py [OUT.pcap]``.
"""

from __future__ import annotations

import socket
import sys
import time
from pathlib import Path

from scapy.all import UDP, AsyncSniffer, wrpcap

from ha.runtime.wire import PacketCodec
from ha.totem.messages import (
    CommitToken,
    Mcast,
    MembEntry,
    MembJoin,
    MergeDetect,
    Message,
    OrfToken,
    TokenHoldCancel,
)

KEY = bytes(range(128))
ADDR = {1: ("127.0.0.1", 5405), 2: ("127.0.0.2", 5405)}


def conversation() -> list[tuple[int, int, Message]]:
    """(from, to, message): two nodes forming ring (1, 8) and exchanging messages."""
    old, ring = (1, 4), (1, 8)
    return [
        (1, 2, MembJoin(1, frozenset({1, 2}), frozenset(), 4)),
        (2, 1, MembJoin(2, frozenset({1, 2}), frozenset(), 4)),
        (1, 2, CommitToken(ring, 0, 1, (1, 2), (MembEntry(old, 41, 41, True), None), 1)),
        (2, 1, CommitToken(ring, 1, 2, (1, 2), (MembEntry(old, 41, 41, True),
                                                 MembEntry((2, 4), 0, 0, True)), 2)),
        (1, 2, OrfToken(ring, 0, 0, -1, 1, 0, 0, True, [], 1)),
        (2, 1, Mcast(ring, 1, 2, False, b"", Mcast(old, 40, 2, True, b"old ring message"))),
        (1, 2, Mcast(ring, 2, 1, False, b"cib: <cib epoch=\"3\"/>")),
        (1, 2, Mcast(ring, 3, 1, True, b"x" * 2000)),
        (2, 1, OrfToken(ring, 7, 3, 2, 2, 2, 0, False, [3], 2)),
        (1, 2, TokenHoldCancel(1, ring)),
        (2, 1, MergeDetect(2, ring)),
    ]


def main() -> None:
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).with_name("hastack_lo.pcap")
    codecs = {n: PacketCodec(node_id=n, key=KEY, cluster_name="lab", incarnation=1700000000 + n)
              for n in ADDR}
    socks = {}
    for n, addr in ADDR.items():
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind(addr)
        socks[n] = s
    sniffer = AsyncSniffer(iface="lo", store=True,
                           lfilter=lambda p: UDP in p and p[UDP].dport == 5405)
    sniffer.start()
    time.sleep(1.0)  # let the capture socket open before the first datagram
    for src, dst, msg in conversation():
        for datagram in codecs[src].encode(msg):
            socks[src].sendto(datagram, ADDR[dst])
            data, _ = socks[dst].recvfrom(65535)
            codecs[dst].decode(data, src, time.monotonic())
    secret = PacketCodec(node_id=1, key=KEY, cluster_name="lab", cipher="aes256", incarnation=1)
    for datagram in secret.encode(Mcast((1, 8), 4, 1, False, b"encrypted payload")):
        socks[1].sendto(datagram, ADDR[2])
        socks[2].recvfrom(65535)
    time.sleep(0.5)
    packets = []
    for pkt in sniffer.stop():
        # A capture on lo sees each datagram twice (leaving and arriving): keep one.
        if not packets or bytes(pkt) != bytes(packets[-1]):
            packets.append(pkt)
    for s in socks.values():
        s.close()
    drops = {n: dict(c.drops) for n, c in codecs.items() if c.drops}
    if drops:
        raise SystemExit(f"codec drops: {drops}")
    wrpcap(str(out), packets)
    print(f"{out}: {len(packets)} packets")


if __name__ == "__main__":
    main()
