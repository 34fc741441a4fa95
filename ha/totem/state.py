"""The per-node state of the Totem single-ring protocol, shared by its two halves.

``ha.totem.membership`` (gather → commit → recovery → operational) and
``ha.totem.srp`` (the token, ordering, retransmission, flow control and delivery)
both read and write this state; keeping it in one place lets each module stay small
while there is exactly one copy of every variable. Names follow totemsrp.c.

Membership state machine (transitions made by ``membership.py``)::

    state        event                                   next
    -----------  --------------------------------------  -----------
    (start)      interface up                            GATHER
    OPERATIONAL  token loss / foreign message / join     GATHER
    GATHER       consensus reached, lowest id            COMMIT  (creates commit token)
    GATHER       commit token for our proc - failed      COMMIT
    GATHER       consensus timeout                       GATHER  (non-responders failed)
    COMMIT       commit token back, full                 RECOVERY
    COMMIT       token loss / join from new member       GATHER
    RECOVERY     two quiet rotations past install seq    OPERATIONAL
    RECOVERY     token loss / join from new member       GATHER  (old ring state restored)
"""

from __future__ import annotations

import enum
from collections import deque
from dataclasses import dataclass, field

from ha.totem.config import TotemConfig
from ha.totem.effects import Effect
from ha.totem.messages import CommitToken, Mcast, MembJoin, OrfToken, RingId


class MembState(enum.Enum):
    GATHER = "gather"
    COMMIT = "commit"
    RECOVERY = "recovery"
    OPERATIONAL = "operational"


TIMER_NAMES = ("token", "retransmit", "hold", "join", "consensus", "merge")
"""Timers a node may have armed; ``tick`` fires due ones in deadline, then this, order."""


@dataclass
class SRPState:
    node_id: int
    config: TotemConfig
    now_us: int = 0
    state: MembState = MembState.GATHER
    # membership
    my_ring_id: RingId = (0, 0)
    my_memb: tuple[int, ...] = ()
    my_proc: set[int] = field(default_factory=set)
    my_failed: set[int] = field(default_factory=set)
    consensus: set[int] = field(default_factory=set)
    # joins from outside the ring being formed, heard in COMMIT/RECOVERY; replayed
    # once OPERATIONAL instead of waiting for their sender's next join timeout
    deferred_joins: dict[int, MembJoin] = field(default_factory=dict)
    token_ring_id_seq: int = 0
    failed_to_recv: bool = False
    commit_token: CommitToken | None = None
    my_new_memb: tuple[int, ...] = ()
    my_trans_memb: tuple[int, ...] = ()
    my_deliver_memb: tuple[int, ...] = ()
    my_high_ring_delivered: int = 0
    originated_orf_token: bool = False
    orf_token_discard: bool = True
    # the old ring, saved at the first commit after it was operational
    old_ring_state_saved: bool = False
    my_old_ring_id: RingId = (0, 0)
    my_old_memb: tuple[int, ...] = ()
    old_ring_state_aru: int = 0
    old_ring_state_high_seq_received: int = 0
    old_msgs: dict[int, Mcast] = field(default_factory=dict)
    # ordering on the current ring
    ring_msgs: dict[int, Mcast] = field(default_factory=dict)
    miss_count: dict[int, int] = field(default_factory=dict)
    my_aru: int = 0
    my_high_seq_received: int = 0
    my_high_delivered: int = 0
    my_last_aru: int = 0
    last_released: int = 0
    safe_point: int = 0
    my_token_seq: int = -1
    my_last_seq: int = -1
    my_seq_unchanged: int = 0
    my_aru_count: int = 0
    my_token_held: bool = False
    my_set_retrans_flg: bool = False
    my_retrans_flg_count: int = 0
    my_install_seq: int = 0
    my_received_flg: bool = False
    my_rotation_counter: int = 0
    my_trc: int = 0
    my_pbl: int = 0
    my_cbl: int = 0
    new_message_queue: deque[tuple[bytes, bool]] = field(default_factory=deque)
    retrans_message_queue: deque[Mcast] = field(default_factory=deque)
    retransmit_copy: tuple[int, OrfToken | CommitToken] | None = None
    # io
    timers: dict[str, int] = field(default_factory=dict)
    out: list[Effect] = field(default_factory=list)
    stats: dict[str, int] = field(default_factory=dict)

    def count(self, name: str, n: int = 1) -> None:
        self.stats[name] = self.stats.get(name, 0) + n

    def arm(self, name: str, after_ms: int) -> None:
        self.timers[name] = self.now_us + after_ms * 1000

    def cancel(self, name: str) -> None:
        self.timers.pop(name, None)

    def next_member(self, members: tuple[int, ...]) -> int:
        i = members.index(self.node_id)
        return members[(i + 1) % len(members)]
