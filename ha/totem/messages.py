"""Totem protocol messages, as the single-ring protocol exchanges them.

These are the in-memory forms; the versioned binary wire format lives in the runtime's
codec. Field names follow the Totem papers and Corosync's totemsrp.c:

- ``RingId`` — (representative node id, ring sequence). A ring is identified by both;
  the sequence only grows (it is persisted across restarts).
- ``OrfToken`` — the ordering token: ``seq`` (highest message sequence assigned on this
  ring), ``aru`` (all-received-up-to: the lowest aru of any member seen this rotation)
  and ``aru_addr`` (the member that lowered it), ``token_seq`` (to discard retransmitted
  duplicates), ``rtr`` (retransmit requests), ``fcc`` and ``backlog`` (flow control),
  ``retrans_flg`` (someone still has recovery messages to send).
- ``Mcast`` — an ordered message. During recovery, messages of the old ring are
  re-sent *encapsulated* (``inner``) as messages of the new ring.
- ``MembJoin`` — a join message of the gather phase: the sender's proc and failed sets.
- ``CommitToken`` — circulates twice around the new ring; each member fills its
  ``MembEntry`` (old ring id, aru, high delivered, received flag) on the first pass.
- ``MergeDetect`` — sent by an idle ring's representative so that other rings find it.
- ``TokenHoldCancel`` — asks the representative to release a held token.
"""

from __future__ import annotations

from dataclasses import dataclass

RingId = tuple[int, int]
"""(representative node id, ring sequence)."""

RETRANSMIT_ENTRIES_MAX = 30


@dataclass(slots=True)
class OrfToken:
    ring_id: RingId
    token_seq: int
    seq: int
    aru: int
    aru_addr: int
    fcc: int
    backlog: int
    retrans_flg: bool
    rtr: list[int]
    sender: int = 0

    def copy(self) -> OrfToken:
        return OrfToken(self.ring_id, self.token_seq, self.seq, self.aru, self.aru_addr,
                        self.fcc, self.backlog, self.retrans_flg, list(self.rtr), self.sender)


@dataclass(frozen=True, slots=True)
class Mcast:
    ring_id: RingId
    seq: int
    sender: int
    safe: bool
    payload: bytes
    inner: Mcast | None = None


@dataclass(frozen=True, slots=True)
class MembJoin:
    sender: int
    proc: frozenset[int]
    failed: frozenset[int]
    ring_seq: int


@dataclass(frozen=True, slots=True)
class MembEntry:
    ring_id: RingId
    aru: int
    high_delivered: int
    received_flg: bool


@dataclass(frozen=True, slots=True)
class CommitToken:
    ring_id: RingId
    token_seq: int
    memb_index: int
    addrs: tuple[int, ...]
    entries: tuple[MembEntry | None, ...]
    sender: int = 0


@dataclass(frozen=True, slots=True)
class MergeDetect:
    sender: int
    ring_id: RingId


@dataclass(frozen=True, slots=True)
class TokenHoldCancel:
    sender: int
    ring_id: RingId


Message = OrfToken | Mcast | MembJoin | CommitToken | MergeDetect | TokenHoldCancel

