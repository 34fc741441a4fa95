"""Vote quorum for one node: the behaviour of Corosync's votequorum service, sans IO.

The membership layer (Totem: totally ordered, virtually synchronous) tells a
``VoteQuorum`` about every regular configuration and delivers, in agreed order, the
NodeInfo messages that members multicast. From those the object decides whether the
partition this node is in may run services. It never reads a clock: time comes in as
``now_us`` and the only timer (last_man_standing) is exposed through
``next_deadline``/``tick``.

Rules kept (as votequorum.c does, unless marked otherwise):

- Every node has ``votes``; ``expected_votes`` starts at the configured value (default:
  the sum of the nodelist votes) and is raised whenever more votes are present.
  ``quorum = max((highest_expected + 2) // 2, (total_votes + 2) // 2)``, where
  highest_expected is the highest expected_votes among current members; quorum never
  decreases except when a quorate member tells an inquorate node its expected_votes
  or when last_man_standing fires.
- NodeInfo exchange: on each configuration every member sends (nodeid, votes,
  expected_votes, flags). A receiver takes a sender's expected_votes as authoritative
  only when the sender reports itself quorate; an inquorate receiver then adopts it
  (this is how a rejoining node learns a lowered expected_votes, and how expected
  comes back up: it is raised to the votes actually present).
- two_node: with at most two members quorum is 1; implies wait_for_all.
- wait_for_all: inquorate until total votes == expected votes once. The status is
  cleared while quorate and when a quorate, non-waiting member is seen; it is set again
  when this node loses quorum (votequorum commit ca320bea; the ATB safety argument for
  odd clusters relies on it).
- last_man_standing: when members leave a quorate partition that still holds at
  least ``quorum`` nodes (or, with auto_tie_breaker, when the tie-breaker is still
  here), a window timer is (re)armed; if still quorate when it fires, expected_votes
  becomes the current member count and quorum is recomputed from it, allowed to
  decrease (so two nodes keep quorum 2; only ATB brings it down to one node).
- auto_tie_breaker: a partition holding exactly ``expected // 2`` votes (and at least
  one) is quorate if it holds the tie-breaker node and the votes that left since the
  previous configuration are fewer than quorum (so the other side cannot be quorate).
  The tie-breaker is the lowest/highest member id of the last membership that was
  quorate by votes (as votequorum), or the first listed node that is in the nodelist.

Configuration errors Corosync only logs ("please fix your corosync.conf") and then
works around are refused here with ValueError instead: two_node with
auto_tie_breaker, auto_tie_breaker with an odd nodelist without wait_for_all, and
last_man_standing with nodes of more than one vote.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType

__all__ = ["FLAG_ORDER", "NodeInfo", "QuorumConfig", "QuorumMessageError", "QuorumState",
           "VoteQuorum", "decode", "encode"]

RingId = tuple[int, int]
_U32 = 2**32 - 1

# corosync-quorumtool prints the flags in this order (tools/corosync-quorumtool.c).
FLAG_ORDER = ("2Node", "Quorate", "WaitForAll", "LastManStanding", "AutoTieBreaker")


class QuorumMessageError(ValueError):
    """A NodeInfo payload (or its delivery) is not acceptable."""


def _is_int(v: object, lo: int, hi: int = _U32) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and lo <= v <= hi


@dataclass(frozen=True)
class QuorumConfig:
    votes: Mapping[int, int]
    expected_votes: int | None = None
    two_node: bool = False
    wait_for_all: bool | None = None
    last_man_standing: bool = False
    last_man_standing_window_ms: int = 10000
    auto_tie_breaker: bool = False
    auto_tie_breaker_node: str | tuple[int, ...] = "lowest"

    def __post_init__(self) -> None:
        votes = dict(self.votes)
        if not votes:
            raise ValueError("votes: expected at least one node in the nodelist")
        for nid, v in votes.items():
            if not _is_int(nid, 1):
                raise ValueError(f"votes: node id {nid!r} is not an integer in 1..2^32-1")
            if not _is_int(v, 0):
                raise ValueError(f"votes: quorum_votes of node {nid} must be an integer >= 0, got {v!r}")
        object.__setattr__(self, "votes", MappingProxyType(dict(sorted(votes.items()))))
        total = sum(votes.values())
        if total < 1:
            raise ValueError("votes: the nodelist must hold at least one vote")
        if self.expected_votes is not None and not _is_int(self.expected_votes, 1):
            raise ValueError(f"expected_votes: expected None or an integer >= 1, got {self.expected_votes!r}")
        if self.wait_for_all not in (None, True, False):
            raise ValueError(f"wait_for_all: expected None or a bool, got {self.wait_for_all!r}")
        if self.two_node:
            if len(votes) != 2 or any(v != 1 for v in votes.values()):
                raise ValueError("two_node: expected exactly 2 nodes of 1 vote each")
            if self.expected_votes not in (None, 2):
                raise ValueError("two_node: expected_votes must be 2 (or unset)")
            if self.auto_tie_breaker:
                raise ValueError("two_node: cannot be combined with auto_tie_breaker")
        if not _is_int(self.last_man_standing_window_ms, 1):
            raise ValueError("last_man_standing_window_ms: expected a positive integer")
        if self.last_man_standing and any(v != 1 for v in votes.values()):
            raise ValueError("last_man_standing: expected every node to have exactly 1 vote")
        atb = self.auto_tie_breaker_node
        if isinstance(atb, str):
            if atb not in ("lowest", "highest"):
                raise ValueError(f"auto_tie_breaker_node: expected 'lowest', 'highest' or node ids, got {atb!r}")
        else:
            atb = tuple(atb)
            if not atb or not all(_is_int(n, 1) for n in atb) or len(set(atb)) != len(atb):
                raise ValueError("auto_tie_breaker_node: expected a non-empty list of distinct node ids")
            if self.auto_tie_breaker and not any(n in votes for n in atb):
                raise ValueError("auto_tie_breaker_node: none of the listed nodes is in the nodelist")
            object.__setattr__(self, "auto_tie_breaker_node", atb)
        if self.auto_tie_breaker and total % 2 and not self.effective_wait_for_all:
            raise ValueError("auto_tie_breaker: with an odd number of nodelist votes, "
                             "wait_for_all must be enabled")

    @property
    def effective_wait_for_all(self) -> bool:
        """wait_for_all as configured, defaulting to two_node."""
        return self.two_node if self.wait_for_all is None else self.wait_for_all

    @property
    def initial_expected_votes(self) -> int:
        return self.expected_votes if self.expected_votes is not None else sum(self.votes.values())


@dataclass(frozen=True)
class QuorumState:
    ring_id: RingId | None
    members: tuple[int, ...]
    quorate: bool
    expected_votes: int
    total_votes: int
    quorum: int
    flags: tuple[str, ...]


# ---- NodeInfo wire format: version, flags, nodeid, votes, expected_votes (big endian).
_WIRE = struct.Struct(">BBIII")
_VERSION = 1
_F_QUORATE, _F_WFA_PENDING, _F_FIRST = 1, 4, 8   # same bit values as votequorum's NODE_FLAGS_*
_F_ALL = _F_QUORATE | _F_WFA_PENDING | _F_FIRST


@dataclass(frozen=True)
class NodeInfo:
    node_id: int
    votes: int
    expected_votes: int
    quorate: bool = False
    wait_for_all_pending: bool = False   # votequorum NODE_FLAGS_WFASTATUS
    first: bool = False                  # not yet part of a multi-node configuration


def encode(info: NodeInfo) -> bytes:
    if not (_is_int(info.node_id, 1) and _is_int(info.votes, 0) and _is_int(info.expected_votes, 1)):
        raise QuorumMessageError(f"NodeInfo fields out of range: {info!r}")
    flags = ((_F_QUORATE if info.quorate else 0) | (_F_WFA_PENDING if info.wait_for_all_pending else 0)
             | (_F_FIRST if info.first else 0))
    return _WIRE.pack(_VERSION, flags, info.node_id, info.votes, info.expected_votes)


def decode(payload: bytes) -> NodeInfo:
    if not isinstance(payload, bytes | bytearray | memoryview):
        raise QuorumMessageError(f"NodeInfo payload must be bytes, got {type(payload).__name__}")
    if len(payload) != _WIRE.size:
        raise QuorumMessageError(f"NodeInfo payload must be {_WIRE.size} bytes, got {len(payload)}")
    version, flags, node_id, votes, expected = _WIRE.unpack(payload)
    if version != _VERSION:
        raise QuorumMessageError(f"NodeInfo version {version} is not supported (expected {_VERSION})")
    if flags & ~_F_ALL:
        raise QuorumMessageError(f"NodeInfo flags 0x{flags:02x} contain unknown bits")
    if node_id == 0:
        raise QuorumMessageError("NodeInfo node id must not be 0")
    if expected == 0:
        raise QuorumMessageError("NodeInfo expected_votes must not be 0")
    return NodeInfo(node_id, votes, expected, bool(flags & _F_QUORATE),
                    bool(flags & _F_WFA_PENDING), bool(flags & _F_FIRST))


@dataclass(slots=True)
class _Node:
    """What this node knows of one cluster node (mutable, internal)."""
    votes: int
    expected_votes: int
    member: bool = False
    info: NodeInfo | None = None


class VoteQuorum:
    """votequorum state machine of node ``node_id``."""

    def __init__(self, node_id: int, config: QuorumConfig) -> None:
        if node_id not in config.votes:
            raise ValueError(f"node_id: {node_id} is not in the nodelist (votes)")
        self._id = node_id
        self._cfg = config
        self._wfa = config.effective_wait_for_all
        self._lms = config.last_man_standing
        self._us = _Node(config.votes[node_id], config.initial_expected_votes, member=True)
        self._nodes: dict[int, _Node] = {node_id: self._us}
        self._first = True
        self._quorum = 0
        self._quorate = False
        self._wfa_pending = self._wfa
        self._ring_id: RingId | None = None
        self._members: tuple[int, ...] = (node_id,)
        self._previous: tuple[int, ...] = ()
        self._lowest: int | None = None    # lowest/highest member id when last quorate by votes
        self._highest: int | None = None
        self._lms_deadline: int | None = None
        self._recalculate(allow_decrease=False, by_current_nodes=False)

    # ---- driven by the membership layer -------------------------------------------------

    def configuration(self, ring_id: RingId, members: Sequence[int], now_us: int) -> list[bytes]:
        """A regular configuration was delivered: update, recalculate, return our NodeInfo."""
        new = tuple(members)
        if self._id not in new:
            raise ValueError(f"members: configuration {ring_id} does not contain this node {self._id}")
        if len(set(new)) != len(new) or not all(_is_int(m, 1) for m in new):
            raise ValueError(f"members: expected distinct positive node ids, got {new!r}")
        if len(new) > 1:
            self._first = False
        left = [m for m in self._members if m not in new]
        for nid, node in self._nodes.items():
            if nid not in new:
                node.member = False
        if self._lms:
            tb = self._tie_breaker()
            if ((len(new) >= self._quorum and left)
                    or (len(new) <= self._quorum and self._cfg.auto_tie_breaker
                        and tb is not None and tb in self._nodes and self._nodes[tb].member)
                    # Not in votequorum: any change restarts a running window, so that
                    # expected_votes is only lowered after a full window of stable membership.
                    or self._lms_deadline is not None):
                self._lms_deadline = now_us + self._cfg.last_man_standing_window_ms * 1000
        self._previous, self._members, self._ring_id = self._members, new, ring_id
        self._recalculate(allow_decrease=False, by_current_nodes=False)
        return [encode(self._node_info())]

    def deliver(self, sender: int, payload: bytes, now_us: int) -> list[bytes]:
        """A NodeInfo from ``sender`` delivered in agreed order (our own included)."""
        info = decode(payload)
        if info.node_id != sender:
            raise QuorumMessageError(f"NodeInfo is about node {info.node_id} but was sent by {sender}")
        if sender not in self._members:
            raise QuorumMessageError(f"NodeInfo sender {sender} is not a member of the current configuration")
        if sender == self._id:
            # Our own record is kept current locally; votequorum would copy back the
            # (possibly stale) flags/expected we sent. Only trigger the recalculation.
            self._recalculate(allow_decrease=False, by_current_nodes=False)
            return []
        node = self._nodes.get(sender)
        old = None if node is None else (node.votes, node.expected_votes, node.member, node.info)
        if node is None:
            node = self._nodes[sender] = _Node(info.votes, info.expected_votes)
        node.votes, node.member, node.info = info.votes, True, info
        allow_decrease = False
        if not self._quorate and info.quorate:
            allow_decrease = True
            self._us.expected_votes = info.expected_votes
        node.expected_votes = info.expected_votes if info.quorate else self._us.expected_votes
        if old is None or info.first or old != (node.votes, node.expected_votes, node.member, node.info):
            self._recalculate(allow_decrease=allow_decrease, by_current_nodes=False)
        if self._wfa and self._wfa_pending and info.quorate and not info.wait_for_all_pending:
            self._wfa_pending = False
            # votequorum recalculates at the end of its sync; do it now so the cleared
            # status takes effect without waiting for the next message.
            self._recalculate(allow_decrease=False, by_current_nodes=False)
        return []

    def tick(self, now_us: int) -> list[bytes]:
        """Fire the last_man_standing window when due."""
        if self._lms_deadline is not None and now_us >= self._lms_deadline:
            self._lms_deadline = None
            if self._quorate:
                self._recalculate(allow_decrease=True, by_current_nodes=True)
        return []

    def next_deadline(self) -> int | None:
        return self._lms_deadline

    @property
    def state(self) -> QuorumState:
        cfg = self._cfg
        shown = {"2Node": cfg.two_node, "Quorate": self._quorate, "WaitForAll": self._wfa,
                 "LastManStanding": self._lms, "AutoTieBreaker": cfg.auto_tie_breaker}
        return QuorumState(self._ring_id, self._members, self._quorate, self._us.expected_votes,
                           self._total_votes(), self._quorum,
                           tuple(f for f in FLAG_ORDER if shown[f]))

    @property
    def config(self) -> QuorumConfig:
        return self._cfg

    @property
    def highest_expected(self) -> int:
        """The highest expected_votes any current member holds (quorumtool's line)."""
        return max(n.expected_votes for _, n in self._live())

    # ---- core -------------------------------------------------------------------------------

    def _node_info(self) -> NodeInfo:
        return NodeInfo(self._id, self._us.votes, self._us.expected_votes, self._quorate,
                        self._wfa and self._wfa_pending, self._first)

    def _live(self) -> list[tuple[int, _Node]]:
        return [(nid, n) for nid, n in self._nodes.items() if n.member]

    def _total_votes(self) -> int:
        return sum(n.votes for _, n in self._live())

    def _recalculate(self, allow_decrease: bool, by_current_nodes: bool) -> None:
        live = self._live()
        total = sum(n.votes for _, n in live)
        # Keep expected_votes at least at the votes present.
        self._us.expected_votes = max(self._us.expected_votes, total)
        highest = len(live) if by_current_nodes else max(n.expected_votes for _, n in live)
        quorum = max((highest + 2) // 2, (total + 2) // 2)
        if not allow_decrease:
            quorum = max(self._quorum, quorum)
        if self._cfg.two_node and len(live) <= 2:
            quorum = 1
        self._quorum = quorum
        if by_current_nodes:     # last_man_standing: everybody now expects what is here
            for _, n in live:
                n.expected_votes = len(live)
        self._decide(total, live)

    def _decide(self, total: int, live: list[tuple[int, _Node]]) -> None:
        if self._wfa and self._wfa_pending:
            if total != self._us.expected_votes:
                self._quorate = False
                return
            self._wfa_pending = False
        quorate = self._quorum <= total
        if quorate:
            ids = [nid for nid, _ in live]
            self._lowest, self._highest = min(ids), max(ids)
        elif (self._cfg.auto_tie_breaker and 0 < total == self._us.expected_votes // 2
              and self._departed_votes() < self._quorum):   # (0 <: not in votequorum)
            tb = self._tie_breaker()
            quorate = tb is not None and any(nid == tb for nid, _ in live)
        self._quorate = quorate
        if self._wfa:
            self._wfa_pending = not quorate

    def _departed_votes(self) -> int:
        # votequorum compares member *counts* of the previous and current configuration;
        # counting the votes of the members that left is the same for 1-vote nodes and
        # stays safe with weighted votes.
        return sum(self._nodes[m].votes for m in self._previous
                   if m not in self._members and m in self._nodes)

    def _tie_breaker(self) -> int | None:
        spec = self._cfg.auto_tie_breaker_node
        if isinstance(spec, str):
            return self._lowest if spec == "lowest" else self._highest
        # A node list: the first listed node that is in the nodelist (the rule;
        # votequorum instead skips listed nodes absent from the previous configuration).
        return next((n for n in spec if n in self._cfg.votes), None)
