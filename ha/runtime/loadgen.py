"""``ha bench groups``: a process-group load generator in the manner of cpgbench.

Every participating node joins a group; senders keep Totem's new-message queue
topped up (so flow control, not the generator, sets the pace), and every node counts
the messages delivered to it. A message carries its sender, a per-sender counter and
the wall-clock send time, so a receiver measures latency (all nodes of a lab share
one clock) and folds (sender, counter) of each delivery, in delivery order, into an
FNV-1a hash: two nodes that delivered the same messages in the same total order
print the same ``order_hash``.

The generator runs inside the daemon, so it measures the membership layer itself
(Totem, the codec, the sockets), not the control socket. The figures use the same
schema and rules as bench/corosync/cpgload.c for Corosync: every node waits until the
group has ``members`` nodes, senders send for ``duration`` and then one END message,
every node counts the data messages delivered until it has END from ``senders``
nodes (so all count the same messages); duration_s runs from the moment the group
was complete to the last delivery. Fields:
msgs_per_s, bytes_per_s, latency_ms {p50, p90, p99, max}, order_hash, first.
"""

from __future__ import annotations

import asyncio
import struct
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ha.totem.effects import GroupMessage

if TYPE_CHECKING:
    from ha.runtime.daemon import NodeDaemon

HEADER = struct.Struct("<4sBIQd")   # magic, kind, sender node id, counter, send time (epoch s)
MAGIC = b"HAbn"
DATA, END = 1, 2
FNV_OFFSET = 0xCBF29CE484222325
FNV_PRIME = 0x100000001B3
MASK64 = (1 << 64) - 1
_PAIR = struct.Struct("<IQ")


def fnv1a(h: int, data: bytes) -> int:
    for b in data:
        h = ((h ^ b) * FNV_PRIME) & MASK64
    return h


def percentile(sorted_values: list[float], p: float) -> float:
    if not sorted_values:
        return 0.0
    k = min(len(sorted_values) - 1, max(0, int(round(p / 100 * (len(sorted_values) - 1)))))
    return sorted_values[k]


class GroupLoad:
    """One node's part of a group benchmark."""

    def __init__(self, daemon: NodeDaemon, group: str, size: int = 100, duration: float = 10.0,
                 send: bool = True, rate: float | None = None, members: int = 1,
                 senders: int = 0, timeout: float = 60.0) -> None:
        if not isinstance(size, int) or not HEADER.size <= size <= 1 << 20:
            raise ValueError(f"size: expected {HEADER.size}..{1 << 20} bytes, got {size!r}")
        if not isinstance(duration, int | float) or not 0 < duration <= 3600:
            raise ValueError(f"duration: expected 0 < seconds <= 3600, got {duration!r}")
        if rate is not None and (not isinstance(rate, int | float) or rate <= 0):
            raise ValueError(f"rate: expected messages per second > 0, got {rate!r}")
        if not isinstance(members, int) or members < 1:
            raise ValueError(f"members: expected an integer >= 1, got {members!r}")
        if not isinstance(senders, int) or senders < 0:
            raise ValueError(f"senders: expected an integer >= 0, got {senders!r}")
        self.members = members
        self.senders = senders
        self.timeout = float(timeout)
        self.ended: set[int] = set()
        self.d = daemon
        self.group = group
        self.size = size
        self.duration = float(duration)
        self.send = bool(send)
        self.rate = rate
        self.padding = b"\0" * (size - HEADER.size)
        self.target = 2 * daemon.cfg.totem.window_size
        self.sent = 0
        self.sending = False
        self.t_first: float | None = None
        self.t_last: float | None = None
        self.delivered = 0
        self.bytes = 0
        self.hash = FNV_OFFSET
        self.first: list[int] | None = None
        self.latencies: list[float] = []
        self._pumping = False
        self._t_send0 = 0.0

    # ---- deliveries -----------------------------------------------------------------
    def _on_message(self, m: GroupMessage, now: float) -> None:
        if m.group != self.group or len(m.payload) < HEADER.size:
            return
        magic, kind, sender, counter, sent_at = HEADER.unpack_from(m.payload)
        if magic != MAGIC:
            return
        if kind == END:
            self.ended.add(sender)
            return
        if self.t_first is None:
            self.t_first = now
        self.t_last = now
        self.delivered += 1
        self.bytes += len(m.payload)
        h = self.hash
        for b in _PAIR.pack(sender, counter):
            h = ((h ^ b) * FNV_PRIME) & MASK64
        self.hash = h
        if self.first is None:
            self.first = [sender, counter]
        self.latencies.append((now - sent_at) * 1000.0)

    # ---- sending --------------------------------------------------------------------
    def _pump(self) -> None:
        if not self.sending or self._pumping:
            return
        self._pumping = True
        try:
            d = self.d
            srp = d.core.srp
            limit = self.target
            if self.rate is not None:
                allowed = int((time.time() - self._t_send0) * self.rate) - self.sent
                limit = min(limit, srp.backlog + max(0, allowed))
            effects: list[Any] = []
            now_us = d.now_us()
            me = d.node_id
            while srp.backlog < limit:
                payload = HEADER.pack(MAGIC, DATA, me, self.sent, time.time()) + self.padding
                effects += d.core.send(now_us, self.group, payload)
                self.sent += 1
            if effects:
                d.apply(effects)
        finally:
            self._pumping = False

    async def _ticker(self) -> None:
        while self.sending:
            self._pump()
            await asyncio.sleep(0.005)

    # ---- the run --------------------------------------------------------------------
    async def _until(self, cond: Callable[[], bool], limit: float) -> bool:
        while not cond():
            if time.time() >= limit:
                return False
            await asyncio.sleep(0.005)
        return True

    def _send_end(self) -> None:
        d = self.d
        payload = HEADER.pack(MAGIC, END, d.node_id, self.sent, time.time()) + self.padding
        d.apply(d.core.send(d.now_us(), self.group, payload))

    async def run(self) -> dict[str, Any]:
        """Join; wait for ``members`` in the group; senders send for ``duration`` then one
        END; everyone counts DATA until END from ``senders`` nodes (or, with
        senders=0, until the group has been quiet longer than a membership change)."""
        d = self.d
        cfg = d.cfg.totem
        quiet = 1.0 + (cfg.token_timeout_ms + cfg.consensus_timeout_ms) / 1000
        d.group_consumers.append(self._on_message)
        d.pump_hooks.append(self._pump)
        d.group_ref(self.group)
        ticker: asyncio.Task[None] | None = None
        t_start = time.time()
        try:
            limit = time.time() + self.timeout
            complete = await self._until(
                lambda: len(d.core.groups.view(self.group)) >= self.members
                and d.node_id in d.core.groups.view(self.group), limit)
            if not complete:
                raise ValueError(f"group {self.group!r}: {self.members} members did not join "
                                 f"within {self.timeout:g} s")
            t_start = time.time()
            if self.send:
                self.sending = True
                self._t_send0 = t_start
                ticker = asyncio.ensure_future(self._ticker())
                self._pump()
                await asyncio.sleep(self.duration)
                self.sending = False
                self._send_end()
            limit = time.time() + self.timeout
            if self.senders:
                await self._until(lambda: len(self.ended) >= self.senders, limit)
            else:
                await self._until(lambda: self.t_last is not None
                                  and time.time() - self.t_last >= quiet, limit)
        finally:
            self.sending = False
            if ticker is not None:
                ticker.cancel()
            d.group_consumers.remove(self._on_message)
            d.pump_hooks.remove(self._pump)
            d.group_unref(self.group)
        lat = sorted(self.latencies)
        window = (self.t_last - t_start) if self.t_last else 0.0
        rate = self.delivered / window if window > 0 else 0.0
        return {"ok": True, "node": d.node_id, "group": self.group, "size": self.size,
                "delivered": self.delivered, "sent": self.sent, "duration_s": round(window, 6),
                "msgs_per_s": round(rate, 1),
                "bytes_per_s": round(self.bytes / window, 1) if window > 0 else 0.0,
                "latency_ms": {"p50": round(percentile(lat, 50), 3),
                               "p90": round(percentile(lat, 90), 3),
                               "p99": round(percentile(lat, 99), 3),
                               "max": round(lat[-1], 3) if lat else 0.0},
                "order_hash": f"{self.hash:016x}", "first": self.first,
                "ended": sorted(self.ended)}
