"""Driving ``harness.packetfuzz`` at a live cluster: capture, send, pace, tally.

``LoopbackCapture`` records the daemons' real datagrams on ``lo`` (an ``AF_PACKET``
socket with a kernel filter: root) for the fuzzer's replays; ``FuzzSender`` sends from
the right source address; ``Pacer`` keeps what a daemon has not counted yet well below
its socket buffer (a drop in the kernel is invisible to the daemon); ``FuzzTally``,
``feed`` and ``send_fuzz`` tie them together; ``udp_counters`` and ``socket_drops``
read the kernel's UDP drop counters for a test's failure message.
"""

from __future__ import annotations

import collections
import ctypes
import dataclasses
import socket
import struct
import time
from collections.abc import Callable, Mapping, Sequence

from ha.runtime.wire_crypto import HEADER_LEN, MAC_LEN, MAGIC
from harness.packetfuzz import (
    Captured,
    FuzzPacket,
    PacketFuzzer,
)

_SO_TIMESTAMPNS, _SOL_PACKET, _PACKET_STATISTICS = 35, 263, 6
_CMSG_SPACE = socket.CMSG_SPACE(16)


class LoopbackCapture:
    """Captures, on ``lo``, the UDP datagrams that the daemons on ``addrs`` (node id →
    address) send each other on ``port``. A kernel (BPF) filter keeps only the incoming
    copies with that port at both ends, so the fuzzer's own datagrams never reach it;
    each datagram carries the kernel's timestamp (wall clock), and ``poll`` reads what
    has arrived without waiting (the caller polls often; no thread competes with it)."""

    def __init__(self, port: int, addrs: Mapping[int, str], iface: str = "lo") -> None:
        self.node_of = {socket.inet_aton(a): n for n, a in addrs.items()}
        self.ports = struct.pack(">HH", port, port)
        self.sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0003))
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
        self.sock.setsockopt(socket.SOL_SOCKET, _SO_TIMESTAMPNS, 1)
        self._attach_filter(port)
        self.sock.bind((iface, 0))
        self.sock.setblocking(False)
        self.packets = self.drops = self.ignored = 0
        self.polled_at = time.time()
        self.poll()  # frames queued before the filter was attached
        self.packets = self.drops = self.ignored = 0

    def _attach_filter(self, port: int) -> None:
        # ethertype IPv4, protocol UDP, pkttype HOST (incoming copy), sport == dport == port
        prog = [(0x28, 0, 0, 12), (0x15, 0, 10, 0x0800), (0x30, 0, 0, 23), (0x15, 0, 8, 17),
                (0x20, 0, 0, 0xFFFFF004), (0x15, 0, 6, 0), (0xB1, 0, 0, 14), (0x48, 0, 0, 14),
                (0x15, 0, 3, port), (0x48, 0, 0, 16), (0x15, 0, 1, port), (0x06, 0, 0, 0x40000),
                (0x06, 0, 0, 0)]
        buf = ctypes.create_string_buffer(b"".join(struct.pack("HBBI", *i) for i in prog))
        fprog = struct.pack("HL", len(prog), ctypes.addressof(buf))
        self.sock.setsockopt(socket.SOL_SOCKET, 26, fprog)  # SO_ATTACH_FILTER

    def poll(self) -> list[Captured]:
        """The hastack datagrams captured since the last call; ``polled_at`` is when."""
        out = []
        self.polled_at = time.time()
        while True:
            try:
                frame, anc, _, _ = self.sock.recvmsg(1 << 18, _CMSG_SPACE)
            except BlockingIOError:
                break
            t = self.polled_at
            for level, kind, value in anc:
                if level == socket.SOL_SOCKET and kind == _SO_TIMESTAMPNS:
                    sec, nsec = struct.unpack("qq", value[:16])
                    t = sec + nsec / 1e9
            udp = 14 + (frame[14] & 0xF) * 4
            src, dst = self.node_of.get(frame[26:30]), self.node_of.get(frame[30:34])
            data = frame[udp + 8:]
            if (src is None or dst is None or frame[udp:udp + 4] != self.ports
                    or len(data) < HEADER_LEN + MAC_LEN or data[:2] != MAGIC):
                self.ignored += 1
                continue
            out.append(Captured(t, src, dst, data))
        raw = self.sock.getsockopt(_SOL_PACKET, _PACKET_STATISTICS, 8)
        packets, drops = struct.unpack("II", raw)  # the kernel resets them on each read
        self.packets += packets
        self.drops += drops
        return out

    def close(self) -> None:
        self.sock.close()


class FuzzSender:
    """One UDP socket per source address (any port); ``send`` to a node's daemon port."""

    def __init__(self, addrs: Mapping[int, str], port: int, sources: Sequence[str]) -> None:
        self.targets = {n: (a, port) for n, a in addrs.items()}
        self.socks: dict[str, socket.socket] = {}
        for a in {*addrs.values(), *sources}:
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 20)
            s.bind((a, 0))
            while s.getsockname()[1] == port:  # the capture would take it for a daemon's
                s.close()
                s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                s.bind((a, 0))
            self.socks[a] = s

    def send(self, p: FuzzPacket) -> None:
        self.socks[p.src].sendto(p.data, self.targets[p.dst])

    def close(self) -> None:
        for s in self.socks.values():
            s.close()


class Pacer:
    """Bounds, per node, the datagrams sent but not yet counted (``counted(node)``: the
    node's drops since the start), in number and bytes. A daemon reads its socket in
    order, so the uncounted ones are the newest ``sent - counted``. A node that stops
    counting for ``stall_s`` is noted in ``stalls`` and no longer waited for."""

    def __init__(self, counted: Callable[[int], int], max_packets: int, max_bytes: int,
                 stall_s: float = 5.0) -> None:
        self.counted_of = counted
        self.max_packets, self.max_bytes, self.stall_s = max_packets, max_bytes, stall_s
        self.cum: dict[int, list[int]] = collections.defaultdict(lambda: [0])
        self.done: dict[int, int] = collections.defaultdict(int)
        self.given_up: dict[int, int] = collections.defaultdict(int)
        self.polls = 0
        self.stalls: list[str] = []

    def _over(self, node: int, size: int, packets: int) -> bool:
        cum = self.cum[node]
        sent = len(cum) - 1
        done = min(sent, self.done[node] + self.given_up[node])
        return sent > done and (sent - done + packets > self.max_packets
                                or cum[-1] - cum[done] + size > self.max_bytes)

    def record(self, node: int, size: int) -> None:
        """``size`` bytes were sent to ``node``."""
        self.cum[node].append(self.cum[node][-1] + size)

    def wait(self, node: int, size: int, packets: int = 1) -> None:
        """Block until ``packets`` more datagrams of ``size`` bytes in all to ``node``
        would stay within the bounds."""
        last_progress = time.monotonic()
        while self._over(node, size, packets):
            before = self.done[node]
            self.done[node] = self.counted_of(node)
            self.polls += 1
            if self.done[node] > before:
                last_progress = time.monotonic()
            elif time.monotonic() - last_progress > self.stall_s:
                sent = len(self.cum[node]) - 1
                missing = sent - self.done[node] - self.given_up[node]
                self.stalls.append(f"node {node}: {missing} of {sent} datagrams still not "
                                   f"counted after {self.stall_s:g} s")
                self.given_up[node] += missing
            elif self._over(node, size, packets):
                time.sleep(0.001)

    def sent(self, node: int) -> int:
        return len(self.cum[node]) - 1


@dataclasses.dataclass
class FuzzTally:
    """What ``send_fuzz`` sent: datagrams by class, by target, and the drops expected."""

    by_kind: collections.Counter[str] = dataclasses.field(default_factory=collections.Counter)
    expected: collections.Counter[str] = dataclasses.field(default_factory=collections.Counter)
    by_node: collections.Counter[int] = dataclasses.field(default_factory=collections.Counter)
    by_kind_reason: collections.Counter[tuple[str, str]] = dataclasses.field(
        default_factory=collections.Counter)
    redrawn: int = 0  # drawn, then too late to send after the pacer's wait
    seconds: float = 0.0


def feed(fuzz: PacketFuzzer, capture: LoopbackCapture | None) -> None:
    """Give the fuzzer what the capture saw since the last call."""
    if capture is not None:
        fuzz.observe(capture.poll(), capture.polled_at, complete=capture.drops == 0)


def send_fuzz(fuzz: PacketFuzzer, out: FuzzSender, pacer: Pacer, count: int,
              capture: LoopbackCapture | None = None) -> FuzzTally:
    """Draw and send ``count`` datagrams as fast as the pacer lets them go."""
    tally = FuzzTally()
    t0 = time.monotonic()
    for n in range(count):
        if n % 64 == 0:
            feed(fuzz, capture)
        while True:
            p = fuzz.next(time.time())
            group = [p, *fuzz.pending]  # the fragments of one message go out together
            pacer.wait(p.dst, sum(len(q.data) for q in group), len(group))
            if time.time() <= p.send_by and len(group) <= count - n:
                break
            tally.redrawn += 1
            fuzz.pending.clear()
            feed(fuzz, capture)
        out.send(p)
        pacer.record(p.dst, len(p.data))
        tally.by_kind[p.kind] += 1
        tally.expected[p.expect] += 1
        tally.by_node[p.dst] += 1
        tally.by_kind_reason[(p.kind, p.expect)] += 1
    tally.seconds = time.monotonic() - t0
    return tally


def udp_counters() -> dict[str, int]:
    """The kernel's ``Udp:`` counters from /proc/net/snmp (InErrors, RcvbufErrors, ...)."""
    with open("/proc/net/snmp", encoding="ascii") as fh:
        rows = [line.split() for line in fh if line.startswith("Udp:")]
    return dict(zip(rows[0][1:], map(int, rows[1][1:]), strict=True))


def socket_drops(port: int) -> dict[str, int]:
    """Per bound UDP socket on ``port``, by local address: the kernel's drop count
    (/proc/net/udp, last column: datagrams the socket buffer had no room for)."""
    out: dict[str, int] = {}
    with open("/proc/net/udp", encoding="ascii") as fh:
        for line in list(fh)[1:]:
            f = line.split()
            addr, _, p = f[1].partition(":")
            if int(p, 16) == port:
                out[socket.inet_ntoa(struct.pack("<I", int(addr, 16)))] = int(f[-1])
    return out
