"""The CIB replica: a sans-IO core that keeps one node's copy of the CIB in step with
every other node's, through the Totem process group ``cib``.

Every change is an ordered message in the group, and every replica applies the same
messages in the same order with the same deterministic function (``ops.apply``), so
replicas that share a configuration hold identical CIBs after each delivered update.
The node that sent an update answers its client when the update comes back to it in
the agreed order — then it is applied on every replica of the configuration; that is
the acknowledgement.

Configuration writes need quorum: the origin refuses them when its node is not quorate
(unless forced); the decision travels in the message so every replica applies it the
same way. Status writes do not need quorum.

Joins and merges — *sync*. When the group's membership gains nodes, every member
multicasts a vote (its version and the ring of its last quorate configuration change,
for the member list it saw). Once a member has the votes of every member of that list,
the winner is picked the same way on every replica (``winner``: the latest such ring,
then ``versions.winner``), and the winner multicasts its whole CIB; every replica takes
it with the highest version voted (so versions never go backwards). Updates delivered
while a sync is under way are refused with "sync in progress" (deterministically: all
replicas see them at the same place in the order); the daemon retries them. After the
copy is taken, each node announces its own ``node_state`` again — the status section is
rebuilt from each node's own state.

Inputs: ``on_group_change``, ``on_message``, ``request``, ``set_quorate``. Outputs
(returned lists): ``Send(payload)`` to multicast to the group, ``Reply(request_id,
ok, detail, xml)`` to a local client, ``Persist(cib_bytes)`` to write to disk.
"""

from __future__ import annotations

import json
import zlib
from dataclasses import dataclass, field
from typing import Any

from lxml import etree

from ha.cib import ops, versions
from ha.cib.versions import bump, digest, set_version, version
from ha.cib.xml import CibError, empty, parse, serialise

GROUP = "cib"
COMPRESS_OVER = 16 * 1024


@dataclass(frozen=True)
class Send:
    payload: bytes
    safe: bool = False


@dataclass(frozen=True)
class Reply:
    request_id: str
    ok: bool
    detail: str
    xml: bytes | None = None


@dataclass(frozen=True)
class Persist:
    data: bytes
    ring: int = 0          # ``changed_in_ring``, kept beside the CIB (a sync tie-break)


Out = Send | Reply | Persist


def winner(votes: dict[int, tuple[tuple[int, int, int], int]]) -> int:
    """The node whose copy all replicas take, from each member's (version, ring of its
    last counted configuration change): the most recent quorate history first — the
    highest ring (ring sequence numbers only grow, and only a quorate partition counts
    a change: see ``_on_update``) — then the highest (admin_epoch, epoch, num_updates),
    then the lowest node id. Every replica then sets the copy's version to the highest
    version voted, so versions never go backwards anywhere."""
    latest = max(ring for _, ring in votes.values())
    return versions.winner([(n, v, "") for n, (v, ring) in votes.items() if ring == latest])


def encode(kind: str, head: dict[str, Any], body: bytes = b"") -> bytes:
    raw = json.dumps(head, separators=(",", ":")).encode() + b"\n" + body
    if len(raw) > COMPRESS_OVER:
        return b"z" + kind.encode() + zlib.compress(raw, 6)
    return b"=" + kind.encode() + raw


def decode(payload: bytes) -> tuple[str, dict[str, Any], bytes]:
    """``(kind, header, body)``; ValueError on anything malformed."""
    if len(payload) < 3 or payload[:1] not in (b"=", b"z"):
        raise ValueError("cib message: bad framing")
    kind = payload[1:2].decode("ascii")
    raw = payload[2:]
    if payload[:1] == b"z":
        d = zlib.decompressobj()
        raw = d.decompress(raw, 64 * 1024 * 1024)
        if d.unconsumed_tail:
            raise ValueError("cib message: over 64 MiB uncompressed")
    head, _, body = raw.partition(b"\n")
    h = json.loads(head)
    if not isinstance(h, dict):
        raise ValueError("cib message: header is not an object")
    return kind, h, body


@dataclass
class CibReplica:
    node_id: int
    uname: str
    session: int = 0                           # tells request ids of incarnations apart
    root: etree._Element = field(default_factory=empty)
    quorate: bool = False
    members: tuple[int, ...] = ()
    syncing: bool = True                       # until the first sync completes
    _votes: dict[int, tuple[tuple[int, ...], tuple[int, ...], int]] = field(default_factory=dict)
    _vote_view: tuple[int, ...] = ()
    _copy_sent: tuple[int, ...] | None = None
    _next_id: int = 0
    _pending: dict[str, str] = field(default_factory=dict)    # request id -> op (ours)
    last_drop: str = ""
    in_transitional: bool = False
    ring_seq: int = 0                # the regular configuration's ring sequence number
    config_tag: tuple[bool, int] = (False, 0)   # the configuration messages arrive in
    cluster_size: int = 1                       # nodes in the nodelist
    _trans_senders: set[int] = field(default_factory=set)
    _trans_majority: bool = False
    changed_in_ring: int = 0         # the ring of the last epoch bump (a tie-break)
    stats: dict[str, int] = field(default_factory=lambda: {
        "updates_applied": 0, "updates_refused": 0, "syncs": 0, "copies_taken": 0,
        "dropped": 0})

    @classmethod
    def from_disk(cls, node_id: int, uname: str, data: bytes | None,
                  session: int = 0, cluster_size: int = 1, ring: int = 0) -> CibReplica:
        r = cls(node_id, uname, session)
        r.cluster_size = cluster_size
        r.changed_in_ring = ring
        if data is not None:
            r.root = parse(data, "cib.xml")
        return r

    # ---- local requests -------------------------------------------------------------
    def query(self, xpath: str | None = None) -> bytes:
        return ops.query(self.root, xpath)

    def request(self, op: str, args: dict[str, Any], body: bytes = b"",
                force: bool = False) -> tuple[str, list[Out]]:
        """A client's update: checked here, then multicast; the reply comes on delivery."""
        self._next_id += 1
        rid = f"{self.node_id}:{self.session}:{self._next_id}"
        try:
            ops.check_request(op, args, body)
        except (CibError, ValueError) as e:
            return rid, [Reply(rid, False, str(e))]
        if ops.touches_configuration(op, args) and not self.quorate and not force:
            self.stats["updates_refused"] += 1
            return rid, [Reply(rid, False, "no quorum: configuration changes need a quorate "
                                           "partition (use --force to write anyway)")]
        self._pending[rid] = op
        head = {"id": rid, "op": op, "args": args, "force": force, "q": self.quorate,
                "ring": self.ring_seq}
        return rid, [Send(encode("U", head, body), safe=True)]

    def set_quorate(self, quorate: bool) -> None:
        self.quorate = quorate

    def on_configuration(self, transitional: bool, ring_seq: int = 0,
                         members: tuple[int, ...] = ()) -> None:
        """Totem's configuration changes. Between a transitional and the next regular
        configuration the old ring's last messages arrive — also from nodes that have
        just left (they were sent, and maybe delivered there, while all were one ring).
        Nodes that move together deliver the same ones. They are applied; they move the
        epoch only on the side that keeps a majority of the nodelist (a minority must
        not get ahead of the partition that will keep writing), and they are never
        acknowledged (other partitions may not have them)."""
        self.in_transitional = transitional
        self.config_tag = (transitional, ring_seq)
        if transitional:
            self._trans_senders = set(self.members)
            self._trans_majority = 2 * len(members) > self.cluster_size
        else:
            self.ring_seq = ring_seq
            self._trans_senders = set()

    # ---- group events ---------------------------------------------------------------
    def on_group_change(self, members: tuple[int, ...], joined: tuple[int, ...],
                        left: tuple[int, ...]) -> list[Out]:
        self.members = tuple(sorted(members))
        out: list[Out] = []
        if joined and not self.syncing:
            self.syncing = True
            self.stats["syncs"] += 1
        if left:
            out += self._mark_left(left)
        if self.syncing and (joined or left):
            # every member sees this change at the same place in the order and votes
            # again for the new view; a decision needs a vote for the current view from
            # every current member
            self._vote_view = self.members
            self._copy_sent = None           # a copy for an earlier view may never arrive
            out.append(Send(encode("V", {"view": list(self.members),
                                         "version": list(version(self.root)),
                                         "digest": digest(self.root),
                                         "ring": self.changed_in_ring})))
            out += self._maybe_send_copy()
        return out

    def on_message(self, sender: int, payload: bytes) -> list[Out]:
        try:
            kind, head, body = decode(payload)
        except (ValueError, zlib.error) as e:
            self.stats["dropped"] += 1
            self.last_drop = f"malformed cib message from node {sender}: {e}"
            return []
        if sender not in self.members and not (self.in_transitional and sender in self._trans_senders):
            # not (yet) in this replica's view of the group: right after a merge, before
            # the joinlists arrive, a replica must not apply the other side's updates to
            # its own, different copy (the sync that follows the join brings them)
            self.stats["not_member"] = self.stats.get("not_member", 0) + 1
            return []
        if kind == "U":
            return self._on_update(sender, head, body)
        if kind == "V":
            if not self.syncing:
                return []
            self._votes[sender] = (tuple(head.get("view", ())), tuple(head["version"]),
                                   int(head.get("ring", 0)))
            return self._maybe_send_copy()
        if kind == "C":
            return self._on_copy(sender, head, body)
        self.stats["dropped"] += 1
        return []

    # ---- sync -----------------------------------------------------------------------
    def _maybe_send_copy(self) -> list[Out]:
        view = self._vote_view
        if not self.syncing or not view:
            return []
        votes = {n: (v[1], v[2]) for n, v in self._votes.items() if n in view and v[0] == view}
        if len(votes) != len(view):
            return []
        win = winner(votes)  # type: ignore[arg-type]
        if win != self.node_id or self._copy_sent == self._vote_view:
            return []
        self._copy_sent = self._vote_view
        top = max(v for v, _ in votes.values())
        return [Send(encode("C", {"view": list(self._vote_view), "ring": self.changed_in_ring,
                                  "version": list(top)}, serialise(self.root)))]

    def _on_copy(self, sender: int, head: dict[str, Any], body: bytes) -> list[Out]:
        if tuple(head.get("view", ())) != self._vote_view or not self.syncing:
            return []
        out: list[Out] = []
        try:
            new = parse(body, f"CIB copy from node {sender}") if sender != self.node_id \
                else self.root
            top = tuple(int(x) for x in head["version"])
        except (CibError, KeyError, TypeError, ValueError):
            self.stats["dropped"] += 1
            return []
        before = serialise(self.root)
        self.root = new
        set_version(self.root, max(top, version(self.root)))  # type: ignore[arg-type]
        self.changed_in_ring = int(head.get("ring", 0))
        if serialise(self.root) != before:
            self.stats["copies_taken"] += 1
            out.append(Persist(serialise(self.root), self.changed_in_ring))
        self.syncing = False
        self._votes = {}
        # the copy's node states of nodes outside the group's view are offline here (the
        # same on every replica: the same copy, the same view)
        self._mark_left(tuple(n for n in ops.status_node_ids(self.root) if n not in self.members))
        out += self._announce_self()
        return out

    def _announce_self(self) -> list[Out]:
        head = {"id": f"{self.node_id}:state", "op": "node_state",
                "args": {"node": self.uname, "nodeid": self.node_id, "online": True}, "force": True}
        return [Send(encode("U", head))]

    def _mark_left(self, left: tuple[int, ...]) -> list[Out]:
        """Nodes that left are offline in this replica's status (every replica does the
        same at the same point of the order). During a sync nothing changes (the copy
        must be what every replica holds when it arrives): they are marked after it."""
        if self.syncing:
            return []
        changed = False
        for n in left:
            changed |= ops.node_offline(self.root, n)
        if changed:
            bump(self.root, configuration=False)
        return []

    # ---- updates --------------------------------------------------------------------
    def _on_update(self, sender: int, head: dict[str, Any], body: bytes) -> list[Out]:
        rid = str(head.get("id", ""))
        mine = rid in self._pending
        self._pending.pop(rid, None)
        op, args = str(head.get("op", "")), head.get("args") or {}
        if self.syncing:
            self.stats["updates_refused"] += 1
            return [Reply(rid, False, "sync in progress: retry")] if mine else []
        try:
            new, kind = ops.apply(self.root, op, args, body)
        except (CibError, ValueError, LookupError) as e:
            self.stats["updates_refused"] += 1
            return [Reply(rid, False, str(e))] if mine else []
        if new is None:                       # no change
            return [Reply(rid, True, "no change", None)] if mine else []
        # An epoch is bumped only by a configuration change delivered in a regular
        # configuration and sent by a quorate node (or forced): only a quorate partition
        # moves epochs, so after a heal its copy outranks what a minority applied from
        # transitional deliveries (those move num_updates, and are not acknowledged).
        # The quorum stamp holds only in the ring it was taken in: an update queued before
        # a configuration change is sent, and delivered, in the next ring.
        counted = (head.get("ring") == self.ring_seq
                   and (bool(head.get("q")) or bool(head.get("force")))
                   and (not self.in_transitional or self._trans_majority))
        if kind == ops.AS_IS and not counted:
            set_version(new, version(self.root))   # a replacement's own version only counts
            kind = ops.CONFIG                      # when the update does
        if kind != ops.AS_IS:
            bump(new, configuration=kind == ops.CONFIG and counted)
        if kind != ops.STATUS and counted:
            self.changed_in_ring = self.ring_seq
        self.root = new
        self.stats["updates_applied"] += 1
        out: list[Out] = [Persist(serialise(new), self.changed_in_ring)] \
            if kind != ops.STATUS else []
        if mine:
            v = version(new)
            if kind != ops.STATUS and (not counted or self.in_transitional):
                out.append(Reply(rid, False, f"outcome unknown: applied at {v[0]}.{v[1]}.{v[2]} "
                                             "during a membership change, not acknowledged; "
                                             "query the CIB to see whether it stayed"))
            else:
                out.append(Reply(rid, True, f"applied at {v[0]}.{v[1]}.{v[2]}"))
        return out
