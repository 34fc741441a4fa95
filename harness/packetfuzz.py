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

Sending, capturing and pacing live in ``harness.fuzzlive``.
"""

from __future__ import annotations

import bisect
import collections
import dataclasses
import math
import random
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
