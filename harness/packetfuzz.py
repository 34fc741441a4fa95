"""Bad datagrams for a live hastack cluster: malformed, truncated, forged, replayed, oversized.

``PacketFuzzer`` draws datagrams from one seeded ``random.Random`` (one seed and the same
captured traffic give the same datagrams); each ``FuzzPacket`` says where to send it
(source address, target node) and the drop reason the target must count for it
(``docs/packets.md``, "Why a datagram is dropped"), so that a test can compare the
daemons' ``stats`` with what was sent, reason by reason. Real datagrams come from
``LoopbackCapture`` (an ``AF_PACKET`` socket on ``lo``: root, and nothing in the daemons
changes). With the cluster's authkey the fuzzer also makes *authenticated* datagrams
that only a later check refuses.

Classes (``CLASSES``): ``garbage`` random bytes, 0..1471 of them; ``truncated`` and
``bitflip`` real datagrams cut short or with bits or bytes changed in the header, body
or HMAC; ``forged`` a plausible header (each member as sender, real or random
incarnations and counters, fragments) and a body under an HMAC that is not the
cluster's; ``bad_header`` a wrong magic, version or flags over an authentic HMAC;
``oversize`` 1473..65507 bytes; ``replay`` a captured datagram again, or its header
with a new body and an authentic HMAC; ``foreign`` anything from an address outside the
nodelist; ``keyed_header`` authentic, refused for its sender, cipher flag, fragment
fields, fragment count or an older incarnation; ``keyed_body`` and ``keyed_fragments``
authentic and fresh, carrying a body (in one datagram, or in 2-4 fragments) that
``decode_body`` refuses.

Rules the fuzzer keeps, so that every datagram is counted exactly once and none can
change the cluster:

- an authenticated datagram never moves a replay window that a real sender relies on:
  it fails a check before the window, reuses a counter the target has already accepted,
  or uses counters that the real sender spent on datagrams to *another* node (the
  target has not seen them and never will), with a body that ``decode_body`` refuses
  and, for fragments, the whole message at once (nothing is left to time out);
- a captured datagram is replayed to the node it was sent to, from the address it came
  from, only ``replay_age_s`` after it passed ``lo`` (the target has processed it).

``Pacer`` keeps the datagrams a daemon has not yet counted under a bound well below its
socket buffer: a drop in the kernel is invisible to the daemon.
"""

from __future__ import annotations

import bisect
import collections
import ctypes
import dataclasses
import math
import random
import socket
import struct
import time
from collections.abc import Callable, Mapping, Sequence

from ha.runtime.wire_body import BodyError, decode_body, encode_body
from ha.runtime.wire_crypto import HEADER, HEADER_LEN, MAC_LEN, MAGIC, VERSION, HmacSha256, WireKeys
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

CLASSES: dict[str, int] = {
    "garbage": 10, "truncated": 10, "bitflip": 14, "forged": 16, "bad_header": 8,
    "oversize": 3, "replay": 14, "foreign": 6, "keyed_header": 12, "keyed_body": 7,
    "keyed_fragments": 3,
}
"""Fuzz classes and their default weights."""
MAX_UDP_PAYLOAD = 65507
_SO_TIMESTAMPNS, _SOL_PACKET, _PACKET_STATISTICS = 35, 263, 6
_CMSG_SPACE = socket.CMSG_SPACE(16)
WINDOW_MARGIN = 512
"""keyed_* use counters at most this far below the sender's newest (window: 1024)..."""
FRESH_S = 0.15
"""... and sent at most this long ago (a daemon sends far fewer than 1024 datagrams in it)."""
ROUTE_AGE_S = 0.02
"""Every copy of a datagram sent to several members has been captured after this long."""
SEND_WITHIN_S = 0.05
"""keyed_* datagrams are sent this soon after they are drawn, or drawn again."""


@dataclasses.dataclass(frozen=True, slots=True)
class FuzzPacket:
    """``data``, to send from ``src`` (any port) to node ``dst``, which must count it as
    dropped for ``expect``; if sent after ``send_by`` (time.time()), it may not be."""

    kind: str
    src: str
    dst: int
    data: bytes
    expect: str
    send_by: float = math.inf


@dataclasses.dataclass(frozen=True, slots=True)
class Captured:
    """A datagram a daemon sent to a peer, as seen on ``lo``."""

    t: float  # time.time() when it passed lo (the kernel's timestamp)
    src: int
    dst: int
    data: bytes

    @property
    def header(self) -> tuple[bytes, int, int, int, int, int, int, int]:
        return HEADER.unpack_from(self.data)


def header_verdict(data: bytes) -> str:
    """The drop reason of a datagram from a member's address whose HMAC does not verify."""
    if len(data) < HEADER_LEN + MAC_LEN:
        return "short"
    if data[:2] != MAGIC:
        return "bad_magic"
    if data[2] != VERSION:
        return "bad_version"
    return "bad_flags" if data[3] & 0xFE else "bad_hmac"


class PacketFuzzer:
    """Draws ``FuzzPacket``s of ``CLASSES`` for the nodes ``addrs`` (node id → IPv4)."""

    def __init__(self, seed: int, addrs: Mapping[int, str], *, key: bytes | None = None,
                 cluster_name: str = "", mtu: int = 1500, replay_age_s: float = 1.0,
                 foreign: Sequence[str] = ("127.0.0.9", "127.0.0.10", "127.0.0.200"),
                 weights: Mapping[str, int] | None = None) -> None:
        self.rng = random.Random(seed)
        self.addrs = dict(addrs)
        self.ids = sorted(addrs)
        self.foreign = list(foreign)
        self.max_datagram = mtu - 28
        self.replay_age_s = replay_age_s
        self.mac: HmacSha256 | None = WireKeys(key, cluster_name).mac if key else None
        self.wrong_macs = [WireKeys(b"not the authkey", cluster_name).mac,
                           WireKeys(key or b"k", cluster_name + "-other").mac]
        w = dict(weights or CLASSES)
        if self.mac is None:
            w.pop("keyed_header", None)
            w.pop("keyed_body", None)
            w.pop("keyed_fragments", None)
        self.kinds, self.weights = list(w), list(w.values())
        self.pool: list[Captured] = []
        self.times: list[float] = []
        self.incarnation: dict[int, int] = {}
        self.newest: dict[int, int] = {}   # sender → highest counter captured
        self.routes: dict[tuple[int, int], set[int]] = {}  # (sender, counter) → its targets
        self.spare: dict[tuple[int, int], list[tuple[int, float]]] = collections.defaultdict(list)
        self.routes_known = True
        self._routed = 0
        self._now = self.polled_at = 0.0
        self.pending: list[FuzzPacket] = []  # the other fragments of a keyed_fragments message
        self.defects: list[str] = []  # bodies that made decode_body raise anything else

    # ---- what the capture saw -------------------------------------------------------
    def observe(self, packets: Sequence[Captured], polled_at: float,
                complete: bool = True) -> None:
        """Learn from the datagrams captured, in order, up to ``polled_at``.
        ``complete=False`` (the capture lost some) stops keyed_body: a counter that
        seems spent on another node may have been sent to the target too."""
        self.routes_known &= complete
        self.polled_at = polled_at
        for p in packets:
            _, _, _, sender, inc, counter, _, _ = p.header
            self.pool.append(p)
            self.times.append(max(p.t, self.times[-1]) if self.times else p.t)
            self.incarnation[sender] = max(self.incarnation.get(sender, 0), inc)
            self.newest[sender] = max(self.newest.get(sender, 0), counter)
            self.routes.setdefault((sender, counter), set()).add(p.dst)

    def _mature(self, now: float) -> int:
        """Index past the captured datagrams old enough to replay. Also records, for
        each counter whose datagrams were all captured (sent ``ROUTE_AGE_S`` ago), the
        members it never went to: keyed_body's counters."""
        routed = bisect.bisect_right(self.times, min(now, self.polled_at) - ROUTE_AGE_S)
        for p in self.pool[self._routed:routed]:
            counter = p.header[5]
            dsts = self.routes.pop((p.src, counter), None)
            if dsts is not None and self.routes_known:
                for other in set(self.ids) - dsts - {p.src}:
                    self.spare[(p.src, other)].append((counter, p.t))
        self._routed = routed
        return bisect.bisect_right(self.times, now - self.replay_age_s, hi=routed)

    # ---- drawing --------------------------------------------------------------------
    def next(self, now: float) -> FuzzPacket:
        """One datagram; a class that has nothing to work from yet (no capture, no spare
        counter) gives way to ``forged``."""
        draw: dict[str, Callable[[int], FuzzPacket | None]] = {
            "garbage": self._garbage, "truncated": self._truncated, "bitflip": self._bitflip,
            "forged": self._forged, "bad_header": self._bad_header, "oversize": self._oversize,
            "replay": self._replay, "foreign": self._foreign, "keyed_header": self._keyed_header,
            "keyed_body": self._keyed_body, "keyed_fragments": self._keyed_fragments}
        if self.pending:
            return self.pending.pop(0)
        kind = self.rng.choices(self.kinds, self.weights)[0]
        self._now = now
        made = draw[kind](self._mature(now))
        return made if made is not None else self._forged(0)

    def _real(self) -> Captured | None:
        return self.pool[self.rng.randrange(len(self.pool))] if self.pool else None

    def _member_src(self) -> tuple[str, int]:
        return self.addrs[self.rng.choice(self.ids)], self.rng.choice(self.ids)

    def _unauth(self, kind: str, src: str, dst: int, data: bytes) -> FuzzPacket:
        verdict = header_verdict(data)
        assert verdict != "bad_hmac" or self.mac is None or not self.mac.verify(data), kind
        return FuzzPacket(kind, src, dst, data, verdict)

    def _garbage(self, ready: int) -> FuzzPacket:
        r = self.rng
        n = r.choice((0, r.randrange(1, 60), r.randrange(60, self.max_datagram)))
        data = r.randbytes(n)
        if n >= 4 and r.random() < 0.3:
            data = MAGIC + bytes((r.choice((VERSION, r.randrange(256))), r.randrange(2))) + data[4:]
        return self._unauth("garbage", *self._member_src(), data)

    def _truncated(self, ready: int) -> FuzzPacket | None:
        p = self._real()
        if p is None:
            return None
        cut = self.rng.choice((self.rng.randrange(60), self.rng.randrange(len(p.data))))
        return self._unauth("truncated", self.addrs[p.src], p.dst, p.data[:cut])

    def _bitflip(self, ready: int) -> FuzzPacket | None:
        p = self._real()
        if p is None:
            return None
        r, data = self.rng, bytearray(p.data)
        region = r.choice(((0, HEADER_LEN), (HEADER_LEN, len(data) - MAC_LEN),
                           (len(data) - MAC_LEN, len(data)), (0, len(data))))
        for _ in range(r.choice((1, 1, 2, 8))):
            i = r.randrange(*region)
            data[i] ^= (1 << r.randrange(8)) if r.random() < 0.7 else r.randrange(1, 256)
        if bytes(data) == p.data:  # two flips of one bit cancelled out
            data[0] ^= 0xFF
        return self._unauth("bitflip", self.addrs[p.src], p.dst, bytes(data))

    def _forged(self, ready: int, body: bytes | None = None, kind: str = "forged") -> FuzzPacket:
        """A header a node could have sent, any body, an HMAC that is not the cluster's."""
        r = self.rng
        src, dst = self._member_src()
        sender = r.choice(self.ids) if r.random() < 0.9 else r.randrange(1 << 32)
        inc = self.incarnation.get(sender, 0) if r.random() < 0.5 else r.randrange(1 << 64)
        counter = self.newest.get(sender, 0) + r.randrange(-50, 50) if r.random() < 0.5 \
            else r.randrange(1 << 64)
        index, count = (0, 1) if r.random() < 0.7 else \
            (r.randrange(4), r.choice((2, 3, 4, 47, r.randrange(1, 1 << 16))))
        if body is None:
            body = self._body() if r.random() < 0.7 else r.randbytes(r.randrange(1, 1400))
        hdr = HEADER.pack(MAGIC, VERSION, r.choice((0, 0, 1)), sender, inc,
                          max(0, counter) % (1 << 64), index, count)
        how = r.randrange(3)
        if how == 0 or self.mac is None:
            data = hdr + body + r.randbytes(MAC_LEN)
        elif how == 1:
            data = r.choice(self.wrong_macs).seal(hdr, body)
        else:
            good = self.mac.seal(hdr, body)
            data = good[:-1] + bytes((good[-1] ^ (1 << r.randrange(8)),))
        return self._unauth(kind, src, dst, data)

    def _bad_header(self, ready: int) -> FuzzPacket:
        """Otherwise good datagrams (authentic HMAC when the key is known) with a wrong
        magic, version or flags: the header checks must refuse them before the HMAC."""
        r = self.rng
        p = self._real()
        src, dst = (self.addrs[p.src], p.dst) if p else self._member_src()
        hdr = bytearray(p.data[:HEADER_LEN] if p else HEADER.pack(MAGIC, VERSION, 0, 1, 1, 1, 0, 1))
        body = p.data[HEADER_LEN:-MAC_LEN] if p else self._body()
        field = r.randrange(3)
        if field == 0:
            hdr[r.randrange(2)] ^= r.randrange(1, 256)
        elif field == 1:
            hdr[2] = r.choice([v for v in range(256) if v != VERSION])
        else:
            hdr[3] = r.randrange(2, 256)
        seal = self.mac.seal if self.mac else r.choice(self.wrong_macs).seal
        return self._unauth("bad_header", src, dst, seal(bytes(hdr), body))

    def _oversize(self, ready: int) -> FuzzPacket:
        r = self.rng
        n = r.choice((self.max_datagram + 1, r.randrange(self.max_datagram + 1, MAX_UDP_PAYLOAD + 1),
                      MAX_UDP_PAYLOAD))
        how = r.randrange(3)
        if how == 0:
            return self._unauth("oversize", *self._member_src(), r.randbytes(n))
        if how == 1:
            return self._forged(ready, r.randbytes(n - HEADER_LEN - MAC_LEN), "oversize")
        p = self._real()  # a real datagram with junk after it
        if p is None:
            return self._forged(ready, r.randbytes(n - HEADER_LEN - MAC_LEN), "oversize")
        return self._unauth("oversize", self.addrs[p.src], p.dst,
                            p.data + r.randbytes(n - len(p.data)))

    def _replay(self, ready: int) -> FuzzPacket | None:
        if ready == 0:
            return None
        p = self.pool[self.rng.randrange(ready)]
        if self.mac is not None and self.rng.random() < 0.3 and len(p.data) >= 60:
            # the same counter again, with new content and an authentic HMAC
            data = self.mac.seal(p.data[:HEADER_LEN], self._body())
            return FuzzPacket("replay", self.addrs[p.src], p.dst, data, "replay")
        return FuzzPacket("replay", self.addrs[p.src], p.dst, p.data, "replay")

    def _foreign(self, ready: int) -> FuzzPacket:
        r = self.rng
        p = self._real()
        data = p.data if p is not None and r.random() < 0.5 else self._forged(ready).data
        return FuzzPacket("foreign", r.choice(self.foreign), r.choice(self.ids), data,
                          "unknown_address")

    def _keyed_header(self, ready: int) -> FuzzPacket:
        """Authentic datagrams that a check after the HMAC refuses before any state."""
        assert self.mac is not None
        r = self.rng
        dst = r.choice(self.ids)
        src = r.choice([i for i in self.ids if i != dst])
        inc, counter, index, count, flags, sender = r.randrange(1 << 64), r.randrange(1, 1 << 40), 0, 1, 0, src
        choice = r.randrange(5)
        if choice == 0:
            sender, expect = r.choice([i for i in [*self.ids, 0, 1 << 31] if i != src]), "sender_mismatch"
        elif choice == 1:
            flags, expect = 1, "cipher_mismatch"
        elif choice == 2:
            counter, index, count = r.choice(((0, 0, 1), (5, 0, 0), (9, 3, 3), (9, 7, 4), (2, 3, 8)))
            expect = "bad_fragment"
        elif choice == 3 or src not in self.incarnation:
            count = r.choice((4096, 1 << 15, 0xFFFF))
            index = r.randrange(min(count, counter))
            expect = "oversize"
        else:
            inc = self.incarnation[src] - r.choice((1, 1000, self.incarnation[src]))
            expect = "stale_incarnation"
        hdr = HEADER.pack(MAGIC, VERSION, flags, sender, inc, counter, index, count)
        return FuzzPacket("keyed_header", self.addrs[src], dst, self.mac.seal(hdr, self._body()),
                          expect)

    def _keyed_body(self, ready: int) -> FuzzPacket | None:
        return self._keyed(1)

    def _keyed_fragments(self, ready: int) -> FuzzPacket | None:
        return self._keyed(self.rng.choice((2, 2, 3, 4)))

    def _keyed(self, n: int) -> FuzzPacket | None:
        """Authentic, fresh datagrams on ``n`` consecutive counters that the target will
        never see from the real sender, carrying a body that ``decode_body`` refuses
        (as ``n`` fragments when ``n > 1``: the rest wait in ``pending``)."""
        assert self.mac is not None
        r = self.rng
        pairs = sorted(k for k, v in self.spare.items() if v)
        if not pairs:
            return None
        src, dst = r.choice(pairs)
        counters = self.spare[(src, dst)]
        if self.newest[src] - counters[-1][0] > WINDOW_MARGIN or \
                counters[-1][1] < self._now - FRESH_S:
            counters.clear()  # the others are older still
            return None
        if len(counters) < n or counters[-1][0] - counters[-n][0] != n - 1:
            counters.pop()
            return None
        base = counters[-n][0]
        del counters[-n:]
        body, expect = self._malformed_body()
        while len(body) < n:
            body, expect = self._malformed_body()
        cuts = sorted(r.sample(range(1, len(body)), n - 1))
        kind = "keyed_body" if n == 1 else "keyed_fragments"
        out = []
        for i, (a, b) in enumerate(zip([0, *cuts], [*cuts, len(body)], strict=True)):
            hdr = HEADER.pack(MAGIC, VERSION, 0, src, self.incarnation[src], base + i, i, n)
            out.append(FuzzPacket(kind, self.addrs[src], dst, self.mac.seal(hdr, body[a:b]),
                                  expect, self._now + SEND_WITHIN_S if i == 0 else math.inf))
        self.pending = out[1:]
        return out[0]

    # ---- bodies ---------------------------------------------------------------------
    def _body(self) -> bytes:
        try:
            return encode_body(self._message())
        except ValueError:
            return self.rng.randbytes(18)

    def _message(self) -> Message:
        r, ids = self.rng, self.ids
        ring = (r.choice(ids), r.randrange(1, 1 << 20))
        seq = r.randrange(1 << 32)
        k = r.randrange(6)
        if k == 0:
            rtr = sorted(r.sample(range(seq, seq + 100), r.randrange(4)))
            return OrfToken(ring, r.randrange(1 << 20), seq, r.choice((-1, seq)), r.choice(ids),
                            0, 0, r.random() < 0.2, rtr, r.choice(ids))
        if k == 1:
            inner = Mcast(ring, seq, r.choice(ids), False, r.randbytes(8)) if r.random() < 0.2 else None
            return Mcast(ring, seq, r.choice(ids), r.random() < 0.5, r.randbytes(r.randrange(300)), inner)
        if k == 2:
            return MembJoin(r.choice(ids), frozenset(ids), frozenset(r.sample(ids, r.randrange(2))),
                            ring[1])
        if k == 3:
            entry = MembEntry(ring, seq, seq, True)
            return CommitToken(ring, 0, 1, tuple(ids), (entry,) + (None,) * (len(ids) - 1), ids[0])
        return (MergeDetect if k == 4 else TokenHoldCancel)(r.choice(ids), ring)

    def _malformed_body(self) -> tuple[bytes, str]:
        """A body ``decode_body`` refuses, and the reason it gives."""
        r = self.rng
        while True:
            p = self._real()
            base = p.data[HEADER_LEN:-MAC_LEN] if p is not None and r.random() < 0.5 else self._body()
            how = r.randrange(5)
            if how == 0:
                body = base[:r.randrange(len(base))]
            elif how == 1:
                body = base + r.randbytes(r.randrange(1, 9))
            elif how == 2:
                b = bytearray(base)
                for _ in range(r.randrange(1, 4)):
                    b[r.randrange(min(len(b), 60))] ^= 1 << r.randrange(8)
                body = bytes(b)
            elif how == 3:
                body = bytes((r.choice((0, 7, 8, 0x80, 0xFF)),)) + base[1:]
            else:
                body = bytes((r.randrange(1, 7),)) + r.randbytes(r.randrange(60))
            try:
                decode_body(body)
            except BodyError as e:
                return body, e.reason
            except Exception as e:  # a defect: the daemon must still count it as malformed
                self.defects.append(f"{body.hex()}: {type(e).__name__}: {e}")
                return body, "malformed"


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
