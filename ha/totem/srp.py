"""Totem single-ring protocol (SRP): the ordering token, retransmission, flow control,
agreed and safe delivery; the sans-IO core of one node.

Theory of operation. One token circulates around the ring in node-id order. Only the
holder multicasts: it stamps each message with ``++token.seq``. Every node keeps the
messages of the current ring by sequence number; ``aru`` (all-received-up-to) is the
highest sequence below which it has no gap. The token carries the lowest aru seen in
this rotation; a node that misses a message puts its sequence on the token's ``rtr``
list (after ``miss_count_const`` rotations) and whoever has it re-multicasts it.

- Agreed delivery: a message is delivered once every lower sequence is delivered.
- Safe delivery: in addition, only once the token has shown ``aru >= seq`` on two
  successive visits, i.e. every member is known to have the message (Corosync
  documents safe as unimplemented; hastack implements it).
- Token loss: no token for ``token`` ms → GATHER. A token that has not come back
  within ``token_retransmit`` ms is sent again; duplicates are discarded by
  ``token_seq``. An idle ring's representative holds the token for ``hold`` ms after
  ``seqno_unchanged_const`` rotations without new messages, and multicasts a merge
  detect every ``merge`` ms so that other rings can find it.
- FAILED TO RECEIVE: a node that is the one holding the aru back for more than
  ``fail_recv_const`` rotations gives up and forms a ring of its own.
- Flow control: at most ``max_messages`` per visit, and at most ``window_size`` per
  rotation for the whole ring (``fcc``), shared out by backlog.

Entry points (all take ``now_us``; none performs I/O; each returns effects):
``start``, ``receive``, ``mcast``, ``tick``; plus ``next_deadline``.
Rules: no wall clock, no sockets, no randomness; malformed input is dropped and
counted in ``stats``, never raised.
"""

from __future__ import annotations

from ha.totem.config import TotemConfig
from ha.totem.effects import Deliver, Effect, Send, Trace
from ha.totem.membership import Membership
from ha.totem.messages import (
    RETRANSMIT_ENTRIES_MAX,
    CommitToken,
    Mcast,
    MembJoin,
    MergeDetect,
    OrfToken,
    TokenHoldCancel,
)
from ha.totem.state import TIMER_NAMES, MembState, SRPState


class TotemSRP(Membership):
    """One node's Totem single-ring protocol engine."""

    def __init__(self, node_id: int, config: TotemConfig, ring_seq: int = 0) -> None:
        if node_id <= 0:
            raise ValueError(f"node id must be positive, got {node_id}")
        s = SRPState(node_id=node_id, config=config)
        s.my_ring_id = (node_id, ring_seq)
        s.token_ring_id_seq = ring_seq
        s.my_memb = (node_id,)
        s.my_proc = {node_id}
        self.s = s

    # ---- views ----------------------------------------------------------------------
    @property
    def node_id(self) -> int:
        return self.s.node_id

    @property
    def state(self) -> MembState:
        return self.s.state

    @property
    def ring_id(self) -> tuple[int, int]:
        return self.s.my_ring_id

    @property
    def members(self) -> tuple[int, ...]:
        return self.s.my_memb

    @property
    def stats(self) -> dict[str, int]:
        return self.s.stats

    @property
    def backlog(self) -> int:
        return len(self.s.new_message_queue)

    def last_queued(self) -> tuple[bytes, bool] | None:
        """The newest message still waiting for the token (not sent yet), if any."""
        q = self.s.new_message_queue
        return q[-1] if q else None

    def replace_last_queued(self, payload: bytes, safe: bool) -> None:
        """Rewrite the newest unsent message (how process groups pack small messages)."""
        self.s.new_message_queue[-1] = (payload, safe)

    # ---- entry points ---------------------------------------------------------------
    def _begin(self, now_us: int) -> None:
        s = self.s
        if now_us > s.now_us:
            s.now_us = now_us

    def _end(self) -> list[Effect]:
        if self.s.deferred_joins:
            self.replay_deferred_joins()
        out = self.s.out
        self.s.out = []
        return out

    def start(self, now_us: int) -> list[Effect]:
        self._begin(now_us)
        self.gather_enter("startup")
        return self._end()

    def mcast(self, now_us: int, payload: bytes, safe: bool = False) -> list[Effect]:
        """Queue an application message for ordered delivery to the ring."""
        self._begin(now_us)
        s = self.s
        s.new_message_queue.append((payload, safe))
        if (s.state is MembState.OPERATIONAL
                and s.my_seq_unchanged >= s.config.seqno_unchanged_const):
            # The ring is idle and its representative may be holding the token.
            s.my_seq_unchanged = 0
            if s.my_ring_id[0] == s.node_id:
                self._token_hold_cancel_local()
            else:
                s.out.append(Send(None, TokenHoldCancel(s.node_id, s.my_ring_id)))
        return self._end()

    def receive(self, now_us: int, msg: object) -> list[Effect]:
        self._begin(now_us)
        try:
            self._dispatch(msg)
        except (AttributeError, TypeError, ValueError, KeyError, IndexError) as exc:
            # A message whose fields are not what the protocol allows (a forged or
            # corrupt packet that decoded): drop it, count it, keep running.
            self.s.count("dropped_malformed")
            self.s.out.append(Trace("dropped", {"reason": "malformed", "error": str(exc)[:200]}))
        return self._end()

    def next_deadline(self) -> int | None:
        t = self.s.timers
        return min(t.values()) if t else None

    def tick(self, now_us: int) -> list[Effect]:
        self._begin(now_us)
        s = self.s
        while True:
            due = [(d, TIMER_NAMES.index(n), n) for n, d in s.timers.items() if d <= now_us]
            if not due:
                break
            _, _, name = min(due)
            del s.timers[name]
            self._fire(name)
        return self._end()

    # ---- dispatch -------------------------------------------------------------------
    def _stale_ring(self, msg: Mcast | OrfToken | CommitToken) -> bool:
        """A ring-bound message from a member of this very ring that names an older ring
        is a late or replayed packet of the past, not news of another partition: if it
        were taken for a foreign message it would start a needless gather."""
        s = self.s
        if (s.state is MembState.OPERATIONAL and msg.ring_id[1] < s.my_ring_id[1]
                and msg.sender in s.my_memb and msg.sender != s.node_id):
            s.count("dropped_stale_ring")
            return True
        return False

    def _dispatch(self, msg: object) -> None:
        if isinstance(msg, (Mcast, OrfToken, CommitToken)) and self._stale_ring(msg):
            return
        if isinstance(msg, Mcast):
            self._on_mcast(msg)
        elif isinstance(msg, OrfToken):
            self._on_orf_token(msg)
        elif isinstance(msg, MembJoin):
            self.on_join(msg)
        elif isinstance(msg, CommitToken):
            self.on_commit_token(msg)
        elif isinstance(msg, MergeDetect):
            self.on_merge_detect(msg)
        elif isinstance(msg, TokenHoldCancel):
            if msg.ring_id == self.s.my_ring_id:
                self.s.my_seq_unchanged = 0
                if self.s.my_ring_id[0] == self.s.node_id:
                    self._token_hold_cancel_local()
        else:
            self.s.count("dropped_unknown_type")

    def _fire(self, name: str) -> None:
        s = self.s
        st = s.state
        if name == "token":
            if st is MembState.OPERATIONAL:
                s.count("operational_token_lost")
                s.out.append(Trace("token_lost", {"ring_id": list(s.my_ring_id),
                                                  "members": list(s.my_memb)}))
                self.gather_enter("token lost in operational")
            elif st is MembState.GATHER:
                self.on_consensus_timeout()
            elif st is MembState.COMMIT:
                s.count("commit_token_lost")
                self.gather_enter("token lost in commit")
            else:
                self.recovery_abandoned()
                self.gather_enter("token lost in recovery")
        elif name == "consensus":
            self.on_consensus_timeout()
        elif name == "join":
            if st in (MembState.GATHER, MembState.COMMIT):
                self.join_message_send()
                s.arm("join", s.config.join)
        elif name in ("retransmit", "hold"):
            if st is not MembState.GATHER and s.retransmit_copy is not None:
                dest, tok = s.retransmit_copy
                s.count("token_retransmitted" if name == "retransmit" else "token_hold_released")
                s.out.append(Send(dest, tok))
            if name == "retransmit" and st is not MembState.GATHER:
                s.arm("retransmit", s.config.token_retransmit_timeout_ms)
        elif name == "merge" and st is MembState.OPERATIONAL and s.my_ring_id[0] == s.node_id:
            s.count("merge_detect_sent")
            s.out.append(Send(None, MergeDetect(s.node_id, s.my_ring_id)))

    def _token_hold_cancel_local(self) -> None:
        s = self.s
        s.cancel("hold")
        if s.retransmit_copy is not None and s.state is not MembState.GATHER:
            s.out.append(Send(*s.retransmit_copy))
            s.arm("retransmit", s.config.token_retransmit_timeout_ms)

    # ---- messages -------------------------------------------------------------------
    def _on_mcast(self, m: Mcast) -> None:
        s = self.s
        if m.ring_id != s.my_ring_id:
            self.on_foreign_message(m.sender)
            return
        seq = m.seq
        if seq <= s.last_released or seq in s.ring_msgs or seq <= 0:
            s.count("duplicate_mcast")
            return
        s.ring_msgs[seq] = m
        if seq > s.my_high_seq_received:
            s.my_high_seq_received = seq
        self._update_aru()
        if s.state is MembState.OPERATIONAL:
            self._deliver_ready()

    def _update_aru(self) -> None:
        s = self.s
        aru = s.my_aru
        msgs = s.ring_msgs
        while aru + 1 in msgs:
            aru += 1
        s.my_aru = aru

    def _deliver_ready(self) -> None:
        s = self.s
        msgs = s.ring_msgs
        seq = s.my_high_delivered + 1
        while True:
            m = msgs.get(seq)
            if m is None or (m.safe and seq > s.safe_point):
                break
            s.my_high_delivered = seq
            if m.inner is None:
                s.out.append(Deliver(m.sender, m.ring_id, seq, m.payload, m.safe))
            seq += 1

    def _messages_free(self, token_aru: int) -> None:
        s = self.s
        release_to = min(token_aru, s.my_last_aru, s.my_high_delivered)
        for seq in range(s.last_released + 1, release_to + 1):
            s.ring_msgs.pop(seq, None)
            s.miss_count.pop(seq, None)
        if release_to > s.last_released:
            s.last_released = release_to

    def _on_orf_token(self, tok: OrfToken) -> None:
        s = self.s
        cfg = s.config
        if s.orf_token_discard:
            s.count("token_discarded")
            return
        rep = s.my_ring_id[0] == s.node_id
        if tok.ring_id == s.my_ring_id:
            if tok.seq == s.my_last_seq:
                if "merge" not in s.timers:
                    s.arm("merge", cfg.merge)
                s.my_seq_unchanged += 1
            else:
                s.cancel("merge")
                s.cancel("hold")
                s.my_seq_unchanged = 0
            s.my_last_seq = tok.seq
        if rep:
            held = s.my_seq_unchanged > cfg.seqno_unchanged_const
        else:
            held = s.my_seq_unchanged >= cfg.seqno_unchanged_const
        s.my_token_held = held
        forward = not (rep and held)
        if s.state is MembState.COMMIT:
            return
        if tok.ring_id != s.my_ring_id:
            s.count("token_foreign_ring")
            return
        if tok.token_seq <= s.my_token_seq:
            s.count("token_duplicate")
            return
        if s.state is MembState.OPERATIONAL:
            self._messages_free(tok.aru)
            s.safe_point = max(s.safe_point, min(tok.aru, s.my_last_aru))
        tok = tok.copy()
        last_aru = s.my_last_aru
        s.my_last_aru = tok.aru
        allowed = self._fcc_calculate(tok)
        remcast = self._token_rtr(tok, allowed)
        regular = self._token_mcast(tok, allowed - remcast)
        tok.fcc += remcast + regular - s.my_trc
        tok.backlog += s.my_cbl - s.my_pbl
        s.my_trc = remcast + regular
        s.my_pbl = s.my_cbl
        if s.my_aru < tok.aru or tok.aru_addr in (s.node_id, 0):
            tok.aru = s.my_aru
            tok.aru_addr = 0 if tok.aru == tok.seq else s.node_id
        if tok.aru == last_aru and tok.aru_addr != 0:
            s.my_aru_count += 1
        else:
            s.my_aru_count = 0
        if s.my_aru_count > cfg.fail_recv_const and tok.aru_addr == s.node_id:
            s.count("failed_to_recv")
            s.out.append(Trace("failed_to_receive", {"ring_id": list(s.my_ring_id)}))
            s.failed_to_recv = True
            s.my_failed.add(s.node_id)
            self.gather_enter("failed to receive")
            return
        s.my_token_seq = tok.token_seq
        tok.token_seq += 1
        if s.state is MembState.RECOVERY:
            self._recovery_progress(tok)
        members = s.my_memb if s.state is MembState.OPERATIONAL else s.my_new_memb
        tok.sender = s.node_id
        dest = s.next_member(members)
        s.retransmit_copy = (dest, tok)
        if forward:
            s.out.append(Send(dest, tok))
        if s.state is MembState.OPERATIONAL:
            self._deliver_ready()
        s.arm("token", cfg.token_timeout_ms)
        s.arm("retransmit", cfg.token_retransmit_timeout_ms)
        if rep and held:
            s.arm("hold", cfg.hold_timeout_ms)

    def _recovery_progress(self, tok: OrfToken) -> None:
        """Decide when recovery is complete: two quiet rotations, then everyone has
        everything up to the install sequence for two more."""
        s = self.s
        if s.retrans_message_queue:
            if not tok.retrans_flg:
                tok.retrans_flg = True
                s.my_set_retrans_flg = True
        elif tok.retrans_flg and s.my_set_retrans_flg:
            tok.retrans_flg = False
            s.my_set_retrans_flg = False
        if not tok.retrans_flg:
            s.my_retrans_flg_count += 1
        else:
            s.my_retrans_flg_count = 0
        if s.my_retrans_flg_count == 2:
            s.my_install_seq = tok.seq
        if (s.my_retrans_flg_count >= 2 and not s.my_received_flg
                and s.my_install_seq <= s.my_aru):
            s.my_received_flg = True
            s.my_deliver_memb = s.my_trans_memb
        if s.my_retrans_flg_count >= 3 and s.my_install_seq <= tok.aru:
            s.my_rotation_counter += 1
        else:
            s.my_rotation_counter = 0
        if s.my_rotation_counter == 2:
            s.my_rotation_counter = 0
            s.my_retrans_flg_count = 0
            self.operational_enter()

    def _fcc_calculate(self, tok: OrfToken) -> int:
        s = self.s
        cfg = s.config
        allowed = min(cfg.max_messages, max(0, cfg.window_size - tok.fcc))
        queue = s.retrans_message_queue if s.state is MembState.RECOVERY else s.new_message_queue
        s.my_cbl = len(queue)
        denominator = tok.backlog + s.my_cbl - s.my_pbl
        if denominator > 0:
            share = (cfg.window_size * s.my_pbl) // denominator
            if 0 < share < allowed:
                allowed = share
        return allowed

    def _token_rtr(self, tok: OrfToken, allowed: int) -> int:
        """Re-multicast what the token asks for; add what we miss to its rtr list."""
        s = self.s
        sent = 0
        keep: list[int] = []
        for seq in tok.rtr:
            m = s.ring_msgs.get(seq)
            if m is not None and sent < allowed:
                s.out.append(Send(None, m))
                s.count("mcast_retransmitted")
                sent += 1
            else:
                keep.append(seq)
        tok.rtr = keep
        wanted = set(keep)
        for seq in range(s.my_aru + 1, tok.seq + 1):
            if len(tok.rtr) >= RETRANSMIT_ENTRIES_MAX:
                break
            if seq in s.ring_msgs or seq in wanted:
                continue
            missed = s.miss_count.get(seq, 0) + 1
            s.miss_count[seq] = missed
            if missed >= s.config.miss_count_const:
                tok.rtr.append(seq)
        return sent

    def _token_mcast(self, tok: OrfToken, allowed: int) -> int:
        s = self.s
        sent = 0
        if s.state is MembState.RECOVERY:
            rq = s.retrans_message_queue
            while sent < allowed and rq:
                enc = rq.popleft()
                tok.seq += 1
                m = Mcast(s.my_ring_id, tok.seq, s.node_id, False, b"", enc.inner)
                s.ring_msgs[tok.seq] = m
                s.out.append(Send(None, m))
                sent += 1
        else:
            q = s.new_message_queue
            while sent < allowed and q:
                payload, safe = q.popleft()
                tok.seq += 1
                m = Mcast(s.my_ring_id, tok.seq, s.node_id, safe, payload)
                s.ring_msgs[tok.seq] = m
                s.out.append(Send(None, m))
                sent += 1
        if sent:
            s.my_high_seq_received = tok.seq
            self._update_aru()
        return sent
