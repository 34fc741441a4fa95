"""CIB replicas in the simulator: the same ``CibReplica`` core the daemon runs, hosted
by a ``SimWorld``, with a per-node "disk" that survives crashes.

``CibSim(world)`` attaches a replica to every node: on each node start it loads the
node's disk copy and joins the group ``cib``; group events and quorum changes of the
node go to its replica; what the replica sends is multicast in the group; what it
persists goes to the node's disk. ``update(n, op, args, body)`` is a client request at
node ``n``; replies are kept in ``replies`` (request id → Reply) with the virtual time.
``history`` records, per node, the CIB the replica held after each cib message (keyed
by the message's ring, sequence number and index within a packed Totem message), each
group change and each start, for the property tests' invariants.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import partial
from typing import Any

from ha.cib.replica import GROUP, CibReplica, Out, Persist, Reply, Send
from ha.cib.versions import version
from ha.cib.xml import serialise
from ha.sim.world import SimWorld
from ha.totem.effects import ConfigurationChange, GroupChange, GroupMessage, QuorumChange


@dataclass
class Applied:
    t_us: int
    node: int
    incarnation: int
    key: tuple[int, ...] | None   # the cib message just delivered: ring, seq, index, sender, hash
    config: tuple[bool, int]      # the configuration it was delivered in (transitional?, ring)
    kind: str                               # its kind (U, V, C) or "start" / "change"
    syncing: bool
    version: tuple[int, int, int]
    cib: bytes


@dataclass
class CibSim:
    world: SimWorld
    replicas: dict[int, CibReplica] = field(default_factory=dict)
    disk: dict[int, bytes] = field(default_factory=dict)
    disk_ring: dict[int, int] = field(default_factory=dict)
    replies: dict[str, tuple[int, Reply]] = field(default_factory=dict)
    history: list[Applied] = field(default_factory=list)
    incarnation: dict[int, int] = field(default_factory=dict)
    keep_history: bool = True
    _idx: dict[tuple[int, tuple[int, ...], int], int] = field(default_factory=dict)
    _key: tuple[int, ...] | None = None
    _kind: str = ""

    def __post_init__(self) -> None:
        self.world.observers.append(self._observe)

    # ---- clients --------------------------------------------------------------------
    def update(self, n: int, op: str, args: dict[str, Any], body: bytes = b"",
               force: bool = False) -> str | None:
        r = self.replicas.get(n)
        if r is None or not self.world.alive(n) or self.world.nodes[n].paused_until is not None:
            return None
        rid, outs = r.request(op, args, body, force)
        self._do(n, outs)
        return rid

    # ---- world events ---------------------------------------------------------------
    def _observe(self, now_us: int, n: int, e: object) -> None:
        if isinstance(e, tuple):
            if e[0] == "trace" and e[1] == "node_start":
                self.world.at(now_us, partial(self._boot, n))
            elif e[0] == "crash":
                self.replicas.pop(n, None)
            return
        r = self.replicas.get(n)
        if r is None:
            return
        t = type(e)
        if t is QuorumChange:
            r.set_quorate(e.quorate)  # type: ignore[attr-defined]
        elif t is ConfigurationChange:
            r.on_configuration(e.transitional, e.ring_id[1], e.members)  # type: ignore[attr-defined]
        elif t is GroupChange and e.group == GROUP:  # type: ignore[attr-defined]
            self._do(n, r.on_group_change(e.members, e.joined, e.left), "change")  # type: ignore[attr-defined]
        elif t is GroupMessage and e.group == GROUP:  # type: ignore[attr-defined]
            ring, seq = tuple(e.ring_id), e.seq  # type: ignore[attr-defined]
            k = (n, ring, seq)
            self._idx[k] = self._idx.get(k, -1) + 1
            self._key = (ring[0], ring[1], seq, self._idx[k], e.sender,  # type: ignore[attr-defined]
                         hash(e.payload))  # type: ignore[attr-defined]
            self._kind = e.payload[1:2].decode("latin-1")  # type: ignore[attr-defined]
            if e.sender not in r.members:  # type: ignore[attr-defined]
                self._kind += "-ignored"     # from outside this replica's view of the group
            self._do(n, r.on_message(e.sender, e.payload), "message")  # type: ignore[attr-defined]
            self._key = None

    def _boot(self, n: int) -> None:
        if not self.world.alive(n) or n in self.replicas:
            return
        self.incarnation[n] = self.incarnation.get(n, 0) + 1
        r = CibReplica.from_disk(n, f"node{n}", self.disk.get(n), self.incarnation[n],
                                 len(self.world.node_ids), self.disk_ring.get(n, 0))
        self.replicas[n] = r
        self._record(n, "start")
        self.world.join(n, GROUP)

    def _do(self, n: int, outs: list[Out], why: str = "") -> None:
        for o in outs:
            if isinstance(o, Send):
                self.world.send(n, GROUP, o.payload, o.safe)
            elif isinstance(o, Persist):
                self.disk[n] = o.data
                self.disk_ring[n] = o.ring
            elif isinstance(o, Reply):
                self.replies[o.request_id] = (self.world.now_us, o)
        if why and self.keep_history:
            self._record(n, why)

    def _record(self, n: int, event: str) -> None:
        r = self.replicas[n]
        kind = self._kind if event == "message" else event
        self.history.append(Applied(self.world.now_us, n, self.incarnation[n],
                                    self._key if event == "message" else None, r.config_tag,
                                    kind, r.syncing, version(r.root), serialise(r.root)))
