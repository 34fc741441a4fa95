"""A cluster node's membership stack: Totem SRP + votequorum + process groups.

``TotemNode`` is the sans-IO object both runtimes drive (the asyncio daemon and the
simulator). It multiplexes the services on Totem's ordered stream by a leading
service byte (``Q`` votequorum, ``G`` process groups) and turns configuration changes
into quorum and group events, in the order the ring delivers them.

Entry points, each returning effects: ``start``, ``receive``, ``tick``, ``join``,
``leave``, ``send``; ``next_deadline`` for the runtime's single timer.

Packing (what Corosync's totempg does): small group messages queued behind another
that has not been sent yet share its Totem message, ``P`` + (u16 length + payload)*,
up to ``pack_limit`` bytes, so a token visit carries many of them. Each is delivered
on its own, in queue order, with the Totem message's ring id and sequence.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence

from ha.totem.config import TotemConfig
from ha.totem.effects import (
    ConfigurationChange,
    Deliver,
    NodeEffect,
    QuorumChange,
    Trace,
)
from ha.totem.groups import ProcessGroups
from ha.totem.quorum import QuorumConfig, QuorumState, VoteQuorum
from ha.totem.srp import TotemSRP
from ha.totem.state import MembState

SERVICE_QUORUM = b"Q"
SERVICE_GROUPS = b"G"
SERVICE_PACKED = b"P"
_LEN = struct.Struct(">H")


class TotemNode:
    """Membership, quorum and process groups of one node."""

    def __init__(self, node_id: int, totem: TotemConfig, quorum: QuorumConfig,
                 ring_seq: int = 0, pack_limit: int = 0) -> None:
        self.node_id = node_id
        self.pack_limit = pack_limit
        # when set, every message Totem delivers (any service) is also traced as an
        # ``ordered`` record, so that a harness can compare delivery order across nodes
        self.trace_ordered = False
        self.srp = TotemSRP(node_id, totem, ring_seq)
        self.quorum = VoteQuorum(node_id, quorum)
        self.groups = ProcessGroups(node_id)
        self._quorum_seen: QuorumState | None = None
        self.stats: dict[str, int] = self.srp.stats
        self.trans_members: tuple[int, ...] = ()

    # ---- views ----------------------------------------------------------------------
    @property
    def state(self) -> MembState:
        return self.srp.state

    @property
    def ring_id(self) -> tuple[int, int]:
        return self.srp.ring_id

    @property
    def members(self) -> tuple[int, ...]:
        return self.srp.members

    @property
    def quorum_state(self) -> QuorumState:
        return self.quorum.state

    # ---- entry points ---------------------------------------------------------------
    def start(self, now_us: int) -> list[NodeEffect]:
        return self._process(now_us, self.srp.start(now_us))

    def receive(self, now_us: int, msg: object) -> list[NodeEffect]:
        return self._process(now_us, self.srp.receive(now_us, msg))

    def tick(self, now_us: int) -> list[NodeEffect]:
        out: list[NodeEffect] = []
        q = self.quorum.next_deadline()
        if q is not None and q <= now_us:
            for payload in self.quorum.tick(now_us):
                out += self._process(now_us, self.srp.mcast(now_us, SERVICE_QUORUM + payload))
            out += self._quorum_changed()
        out += self._process(now_us, self.srp.tick(now_us))
        return out

    def next_deadline(self) -> int | None:
        a = self.srp.next_deadline()
        b = self.quorum.next_deadline()
        if a is None:
            return b
        return a if b is None else min(a, b)

    def join(self, now_us: int, group: str) -> list[NodeEffect]:
        return self._mcast(now_us, SERVICE_GROUPS + self.groups.join(group))

    def leave(self, now_us: int, group: str) -> list[NodeEffect]:
        return self._mcast(now_us, SERVICE_GROUPS + self.groups.leave(group))

    def send(self, now_us: int, group: str, data: bytes, safe: bool = False) -> list[NodeEffect]:
        payload = SERVICE_GROUPS + self.groups.send(group, data)
        if self._pack(payload, safe):
            return []
        return self._mcast(now_us, payload, safe)

    def _pack(self, payload: bytes, safe: bool) -> bool:
        """Append ``payload`` to the last queued, unsent Totem message when it fits."""
        limit = self.pack_limit
        tail = self.srp.last_queued()
        if not limit or tail is None or len(payload) + 2 > limit // 2:
            return False
        last, last_safe = tail
        if last_safe != safe:
            return False
        if last[:1] == SERVICE_PACKED:
            if len(last) + 2 + len(payload) > limit:
                return False
            self.srp.replace_last_queued(last + _LEN.pack(len(payload)) + payload, safe)
            return True
        if last[:1] != SERVICE_GROUPS or 1 + 4 + len(last) + len(payload) > limit:
            return False
        self.srp.replace_last_queued(SERVICE_PACKED + _LEN.pack(len(last)) + last
                                     + _LEN.pack(len(payload)) + payload, safe)
        return True

    def mcast(self, now_us: int, payload: bytes, safe: bool = False) -> list[NodeEffect]:
        """A raw ordered message with no service byte of ours: delivered as ``Deliver``."""
        return self._mcast(now_us, b"R" + payload, safe)

    # ---- plumbing -------------------------------------------------------------------
    def _mcast(self, now_us: int, payload: bytes, safe: bool = False) -> list[NodeEffect]:
        return self._process(now_us, self.srp.mcast(now_us, payload, safe))

    def _process(self, now_us: int, effects: Sequence[object]) -> list[NodeEffect]:
        out: list[NodeEffect] = []
        pending: list[object] = list(effects)
        i = 0
        while i < len(pending):
            e = pending[i]
            i += 1
            if isinstance(e, Deliver):
                if self.trace_ordered:
                    out.append(Trace("ordered", {"sender": e.sender, "ring_id": list(e.ring_id),
                                                 "seq": e.seq, "size": len(e.payload),
                                                 "service": e.payload[:1].decode("latin-1")}))
                out += self._on_deliver(now_us, e, pending)
            elif isinstance(e, ConfigurationChange):
                out.append(e)
                if e.transitional:
                    self.trans_members = e.members
                    out += self.groups.on_transitional(e.members)
                else:
                    for payload in self.quorum.configuration(e.ring_id, e.members, now_us):
                        pending += self.srp.mcast(now_us, SERVICE_QUORUM + payload)
                    out += self._quorum_changed()
                    joinlist = self.groups.on_regular()
                    if joinlist is not None:
                        pending += self.srp.mcast(now_us, SERVICE_GROUPS + joinlist)
            else:
                out.append(e)  # type: ignore[arg-type]
        return out

    def _on_deliver(self, now_us: int, d: Deliver, pending: list[object]) -> list[NodeEffect]:
        if d.payload[:1] == SERVICE_PACKED:
            return self._unpack(now_us, d, pending)
        service, body = d.payload[:1], d.payload[1:]
        try:
            if service == SERVICE_QUORUM:
                for payload in self.quorum.deliver(d.sender, body, now_us):
                    pending += self.srp.mcast(now_us, SERVICE_QUORUM + payload)
                return self._quorum_changed()
            if service == SERVICE_GROUPS:
                return list(self.groups.deliver(d.sender, body, d.ring_id, d.seq))
            if service == b"R":
                return [Deliver(d.sender, d.ring_id, d.seq, body, d.safe)]
        except ValueError as exc:
            self.stats["dropped_service_message"] = self.stats.get("dropped_service_message", 0) + 1
            return [Trace("dropped", {"reason": "service message", "error": str(exc)[:200]})]
        self.stats["dropped_unknown_service"] = self.stats.get("dropped_unknown_service", 0) + 1
        return []

    def _unpack(self, now_us: int, d: Deliver, pending: list[object]) -> list[NodeEffect]:
        data = d.payload
        parts: list[bytes] = []
        at = 1
        while at < len(data):
            if at + 2 > len(data):
                break
            (n,) = _LEN.unpack_from(data, at)
            at += 2
            if n == 0 or at + n > len(data) or data[at:at + 1] == SERVICE_PACKED:
                break
            parts.append(data[at:at + n])
            at += n
        else:
            out: list[NodeEffect] = []
            for part in parts:
                out += self._on_deliver(now_us, Deliver(d.sender, d.ring_id, d.seq, part, d.safe),
                                        pending)
            return out
        self.stats["dropped_service_message"] = self.stats.get("dropped_service_message", 0) + 1
        return [Trace("dropped", {"reason": "packed message", "error": f"bad framing at {at}"})]

    def _quorum_changed(self) -> list[NodeEffect]:
        st = self.quorum.state
        prev = self._quorum_seen
        self._quorum_seen = st
        if prev is not None and (prev.quorate, prev.ring_id, prev.members, prev.expected_votes,
                                 prev.quorum, prev.flags) == (
                st.quorate, st.ring_id, st.members, st.expected_votes, st.quorum, st.flags):
            return []
        change = QuorumChange(st.quorate, st.ring_id, st.members, st.expected_votes,
                              st.total_votes, st.quorum, st.flags)
        return [change, Trace("quorum", {"quorate": st.quorate, "ring_id": list(st.ring_id or ()),
                                         "members": list(st.members),
                                         "expected_votes": st.expected_votes,
                                         "total_votes": st.total_votes, "quorum": st.quorum,
                                         "flags": list(st.flags)})]
