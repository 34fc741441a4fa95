"""Totem membership: gather → commit → recovery → operational, with extended virtual
synchrony on every change.

Rules this module keeps (from the Totem papers, as Corosync's totemsrp.c does them):

- GATHER: a node multicasts its proc set (nodes it wants in the ring) and failed set
  (nodes it gave up on) every ``join`` ms. When every node of proc - failed has sent
  a join with identical sets (consensus), the lowest id creates the commit token. A
  node named in another's failed set marks that node failed too (symmetric failure).
  If consensus is not reached within ``consensus`` ms, non-responders become failed.
- COMMIT: the commit token goes around the new ring once, each member writing its
  old ring id, aru, high delivered and received flag; a second rotation moves every
  member to RECOVERY, and the representative then creates the ordering token.
- RECOVERY: members that shared the old ring re-send (encapsulated in the new ring)
  every old-ring message some of them may lack, until two rotations pass with nothing
  left to re-send.
- OPERATIONAL, entered in EVS order: deliver old-ring messages up to the first gap in
  the old regular configuration (safe messages only up to the highest any transitional
  member had delivered), then the transitional configuration, then the recovered
  messages after the gap (only from transitional members, for causality), then the
  regular configuration.
"""

from __future__ import annotations

from ha.totem.effects import ConfigurationChange, Deliver, Persist, Send, Trace
from ha.totem.messages import CommitToken, Mcast, MembEntry, MembJoin, MergeDetect, OrfToken
from ha.totem.state import MembState, SRPState


class Membership:
    """The membership half of a Totem node; mixed into ``TotemSRP``."""

    s: SRPState

    # ---- gather ---------------------------------------------------------------------
    def gather_enter(self, reason: str) -> None:
        s = self.s
        s.orf_token_discard = True
        s.originated_orf_token = False
        s.my_proc.add(s.node_id)
        s.consensus = {s.node_id}
        s.deferred_joins.clear()
        prev = s.state
        s.state = MembState.GATHER
        for t in ("token", "retransmit", "merge", "hold"):
            s.cancel(t)
        s.arm("join", s.config.join)
        s.arm("consensus", s.config.consensus_timeout_ms)
        s.count("gather_entered")
        s.out.append(Trace("gather", {"from": prev.value, "reason": reason,
                                      "proc": sorted(s.my_proc), "failed": sorted(s.my_failed)}))
        self.join_message_send()

    def join_message_send(self) -> None:
        s = self.s
        join = MembJoin(s.node_id, frozenset(s.my_proc), frozenset(s.my_failed), s.my_ring_id[1])
        s.out.append(Send(None, join))
        # Our own join comes back to us on a real network; take it at once.
        self.memb_join_process(join)

    def consensus_agreed(self) -> bool:
        s = self.s
        return (s.my_proc - s.my_failed) <= s.consensus

    def on_join(self, join: MembJoin) -> None:
        s = self.s
        if join.sender == s.node_id:
            return
        if join.ring_seq > s.token_ring_id_seq:
            s.token_ring_id_seq = join.ring_seq
        st = s.state
        if st is MembState.OPERATIONAL:
            if s.node_id in join.failed or (join.sender in s.my_memb
                                            and join.ring_seq < s.my_ring_id[1]):
                s.count("join_ignored_operational")
                return
            self.memb_join_process(join)
        elif st is MembState.GATHER:
            self.memb_join_process(join)
        elif join.sender in s.my_new_memb and join.ring_seq >= s.my_ring_id[1]:
            # A member of the ring being formed went back to gather: follow it.
            if st is MembState.RECOVERY:
                self.recovery_abandoned()
            self.gather_enter(f"join during {st.value}")
            self.memb_join_process(join)
        else:
            s.count("join_ignored_" + st.value)
            if join.sender not in s.my_new_memb:
                # Someone outside the ring we are forming wants to merge. Acting now
                # would abandon this ring; dropping it would cost its sender a join
                # timeout. Take it up once this ring is operational (as if delayed).
                s.deferred_joins[join.sender] = join

    def memb_join_process(self, join: MembJoin) -> None:
        s = self.s
        if join.proc == s.my_proc and join.failed == s.my_failed:
            s.consensus.add(join.sender)
            if self.consensus_agreed():
                if s.failed_to_recv:
                    # FAILED TO RECEIVE: leave the others and form a ring of our own.
                    s.failed_to_recv = False
                    s.my_proc = {s.node_id}
                    s.my_failed = set()
                    self.commit_token_create()
                    return
                live = s.my_proc - s.my_failed
                if live and s.node_id == min(live):
                    self.commit_token_create()
                    return
        elif join.proc <= s.my_proc and join.failed <= s.my_failed or join.sender in s.my_failed:
            pass
        else:
            before = (len(s.my_proc), len(s.my_failed))
            s.my_proc |= join.proc
            if s.node_id in join.failed:
                s.my_failed.add(join.sender)
            elif join.sender in s.my_memb:
                s.my_failed |= join.failed
            s.my_failed.discard(s.node_id)
            if (len(s.my_proc), len(s.my_failed)) != before:
                self.gather_enter("merge during join")
                return
            # Nothing of the join could be taken (its failed set names nodes we do not
            # share a ring with): re-entering gather would only echo joins back and
            # forth; the consensus timeout settles the disagreement.
            s.count("join_unmergeable")
        if s.state is MembState.OPERATIONAL:
            self.gather_enter("join during operational")

    def on_consensus_timeout(self) -> None:
        s = self.s
        s.count("consensus_timeouts")
        if self.consensus_agreed():
            s.consensus = {s.node_id}
            s.arm("consensus", s.config.consensus_timeout_ms)
        else:
            s.my_failed |= s.my_proc - s.consensus
            self.gather_enter("consensus timeout")

    def on_merge_detect(self, msg: MergeDetect) -> None:
        s = self.s
        if msg.ring_id == s.my_ring_id:
            return
        if s.state is MembState.OPERATIONAL or (
                s.state is MembState.GATHER and msg.sender not in s.my_proc):
            s.my_proc.add(msg.sender)
            self.gather_enter("merge detected")

    def on_foreign_message(self, sender: int) -> None:
        s = self.s
        if s.state is MembState.OPERATIONAL or (
                s.state is MembState.GATHER and sender not in s.my_proc):
            s.my_proc.add(sender)
            self.gather_enter("foreign message")
        else:
            s.count("dropped_foreign_message")

    # ---- commit ---------------------------------------------------------------------
    def commit_token_create(self) -> None:
        s = self.s
        addrs = tuple(sorted(s.my_proc - s.my_failed))
        ring_id = (s.node_id, s.token_ring_id_seq + 4)
        ct = CommitToken(ring_id, 0, 0, addrs, (None,) * len(addrs), s.node_id)
        self.commit_enter(ct)

    def old_ring_state_save(self) -> None:
        s = self.s
        if s.old_ring_state_saved:
            return
        s.old_ring_state_saved = True
        s.my_old_ring_id = s.my_ring_id
        s.my_old_memb = s.my_memb
        s.old_ring_state_aru = s.my_aru
        s.old_ring_state_high_seq_received = s.my_high_seq_received
        s.old_msgs = s.ring_msgs

    def recovery_abandoned(self) -> None:
        """A recovery attempt failed. Corosync restores the old ring's aru here; this
        core keeps the old ring's state apart from the new ring's (``old_*``), so there
        is nothing to restore, only the event to count."""
        self.s.count("recovery_token_lost")

    def commit_enter(self, ct: CommitToken) -> None:
        s = self.s
        self.old_ring_state_save()
        i = ct.memb_index
        entries = list(ct.entries)
        received = s.old_ring_state_aru == s.old_ring_state_high_seq_received
        entries[i] = MembEntry(s.my_old_ring_id, s.old_ring_state_aru, s.my_high_delivered, received)
        high_aru = max(e.aru for e in entries[: i + 1] if e is not None and e.ring_id == s.my_old_ring_id)
        for j in range(i + 1):
            e = entries[j]
            if e is not None and e.ring_id == s.my_old_ring_id and e.aru < high_aru:
                entries[j] = MembEntry(e.ring_id, e.aru, e.high_delivered, False)
        ct = CommitToken(ct.ring_id, ct.token_seq, i + 1, ct.addrs, tuple(entries), s.node_id)
        s.commit_token = ct
        s.my_new_memb = ct.addrs
        s.cancel("join")
        s.cancel("consensus")
        s.my_ring_id = ct.ring_id
        s.token_ring_id_seq = ct.ring_id[1]
        s.out.append(Persist("ring_seq", ct.ring_id[1]))
        s.ring_msgs = {}
        s.miss_count = {}
        s.state = MembState.COMMIT
        s.arm("token", s.config.token_timeout_ms)
        s.arm("retransmit", s.config.token_retransmit_timeout_ms)
        s.my_trc = s.my_pbl = s.my_cbl = 0
        s.count("commit_entered")
        s.out.append(Trace("commit", {"ring_id": list(ct.ring_id), "members": list(ct.addrs)}))
        self.commit_token_send(ct, s.next_member(ct.addrs))

    def commit_token_send(self, ct: CommitToken, dest: int) -> None:
        s = self.s
        ct = CommitToken(ct.ring_id, ct.token_seq + 1, ct.memb_index, ct.addrs, ct.entries, s.node_id)
        s.retransmit_copy = (dest, ct)
        s.out.append(Send(dest, ct))

    def on_commit_token(self, ct: CommitToken) -> None:
        s = self.s
        st = s.state
        if st is MembState.GATHER:
            if (ct.memb_index < len(ct.addrs) and ct.addrs[ct.memb_index] == s.node_id
                    and set(ct.addrs) == s.my_proc - s.my_failed
                    and ct.ring_id[1] > s.my_ring_id[1]):
                self.commit_enter(ct)
            else:
                s.count("dropped_commit_token")
        elif st is MembState.COMMIT:
            if ct.ring_id == s.my_ring_id and ct.memb_index == len(ct.addrs):
                self.recovery_enter(ct)
        elif (st is MembState.RECOVERY and s.node_id == s.my_ring_id[0]
              and ct.ring_id == s.my_ring_id and not s.originated_orf_token
              and ct.token_seq > len(ct.addrs)):
            # The commit token's second rotation is complete: start the new ring. A
            # retransmitted copy from the first rotation (token_seq <= members) is not
            # that proof; Corosync takes it, then retransmits an ORF token that members
            # still in COMMIT drop, and the attempt is lost to a token timeout.
            s.originated_orf_token = True
            self.orf_token_send_initial()

    # ---- recovery -------------------------------------------------------------------
    def recovery_enter(self, ct: CommitToken) -> None:
        s = self.s
        s.orf_token_discard = False
        s.retrans_message_queue.clear()
        self.commit_token_send(ct, s.next_member(ct.addrs))
        s.my_token_seq = -1
        entries = [e for e in ct.entries if e is not None]
        assert len(entries) == len(ct.addrs), "full commit token has every entry"
        old_memb = set(s.my_old_memb)
        trans = tuple(a for a, e in zip(ct.addrs, entries, strict=True)
                      if e.ring_id == s.my_old_ring_id and a in old_memb)
        s.my_trans_memb = trans
        s.my_deliver_memb = trans
        low_ring_aru = s.old_ring_state_high_seq_received
        high_delivered = 0
        all_received = True
        for a, e in zip(ct.addrs, entries, strict=True):
            if a in trans:
                low_ring_aru = min(low_ring_aru, e.aru)
                high_delivered = max(high_delivered, e.high_delivered)
                all_received = all_received and e.received_flg
        s.my_high_ring_delivered = high_delivered
        originated = 0
        if not all_received:
            for seq in range(low_ring_aru + 1, s.old_ring_state_high_seq_received + 1):
                m = s.old_msgs.get(seq)
                if m is not None:
                    s.retrans_message_queue.append(
                        Mcast(s.my_ring_id, 0, s.node_id, False, b"", m))
                    originated += 1
        s.ring_msgs = {}
        s.miss_count = {}
        s.my_aru = 0
        s.my_aru_count = 0
        s.my_seq_unchanged = 0
        s.my_high_seq_received = 0
        s.my_install_seq = 0
        s.my_retrans_flg_count = 0
        s.my_rotation_counter = 0
        s.my_received_flg = all_received
        s.last_released = 0
        s.my_last_aru = 0
        s.safe_point = 0
        s.arm("token", s.config.token_timeout_ms)
        s.arm("retransmit", s.config.token_retransmit_timeout_ms)
        s.state = MembState.RECOVERY
        s.count("recovery_entered")
        s.out.append(Trace("recovery", {"ring_id": list(s.my_ring_id), "trans": list(trans),
                                        "originated": originated}))

    def orf_token_send_initial(self) -> None:
        s = self.s
        tok = OrfToken(s.my_ring_id, 0, 0, -1, s.node_id, 0, 0, True, [], s.node_id)
        s.my_set_retrans_flg = True
        dest = s.next_member(s.my_new_memb)
        s.retransmit_copy = (dest, tok)
        s.out.append(Send(dest, tok))
        s.arm("token", s.config.token_timeout_ms)
        s.arm("retransmit", s.config.token_retransmit_timeout_ms)

    # ---- operational ----------------------------------------------------------------
    def operational_enter(self) -> None:
        s = self.s
        # Old-ring messages recovered through the new ring join the old ring's buffer.
        for seq in range(1, s.my_aru + 1):
            m = s.ring_msgs.get(seq)
            if m is not None and m.inner is not None and m.inner.ring_id == s.my_old_ring_id:
                inner = m.inner
                if inner.seq > s.my_high_delivered and inner.seq not in s.old_msgs:
                    s.old_msgs[inner.seq] = inner
                    if inner.seq > s.old_ring_state_high_seq_received:
                        s.old_ring_state_high_seq_received = inner.seq
        old = s.old_msgs
        end = s.old_ring_state_high_seq_received
        # 1. the old regular configuration: contiguous, safe only up to high_ring_delivered
        seq = s.my_high_delivered + 1
        while seq <= end:
            m = old.get(seq)
            if m is None or (m.safe and seq > s.my_high_ring_delivered):
                break
            s.out.append(Deliver(m.sender, m.ring_id, m.seq, m.payload, m.safe))
            seq += 1
        trans = s.my_trans_memb
        left = tuple(n for n in s.my_old_memb if n not in trans)
        joined = tuple(n for n in s.my_new_memb if n not in trans)
        # 2. the transitional configuration, then what follows the first gap
        s.out.append(ConfigurationChange(True, s.my_ring_id, trans, left=left))
        deliver_from = set(s.my_deliver_memb)
        after_gap = False
        while seq <= end:
            m = old.get(seq)
            if m is None:
                after_gap = True
            elif not after_gap or m.sender in deliver_from:
                # After a gap, only messages from transitional members keep causality:
                # a departed sender may have sent them after the message we lack.
                s.out.append(Deliver(m.sender, m.ring_id, m.seq, m.payload, m.safe))
            seq += 1
        # 3. the regular configuration
        s.out.append(ConfigurationChange(False, s.my_ring_id, s.my_new_memb, joined=joined))
        s.out.append(Trace("operational", {"ring_id": list(s.my_ring_id),
                                           "members": list(s.my_new_memb),
                                           "trans": list(trans), "left": list(left),
                                           "joined": list(joined)}))
        s.my_memb = s.my_new_memb
        s.my_proc = set(s.my_memb)
        s.my_failed = set()
        s.consensus = set()
        s.old_msgs = {}
        s.old_ring_state_saved = False
        s.my_high_delivered = 0
        s.state = MembState.OPERATIONAL
        s.count("operational_entered")

    def replay_deferred_joins(self) -> None:
        """Take up joins heard while forming a ring of this node alone (a node that
        just started, whose startup join drew the others' joins while it was committing
        its singleton ring). Called at the end of an entry point, once the token that
        made the ring operational has been dealt with."""
        s = self.s
        if not s.deferred_joins or s.state is not MembState.OPERATIONAL:
            return
        if len(s.my_memb) > 1:
            # Other members may still be in recovery: a gather now would make them
            # abandon it (and a stale join can keep doing so); leave it to the sender's
            # next join, as Corosync does.
            s.deferred_joins.clear()
            return
        deferred = list(s.deferred_joins.values())
        s.deferred_joins.clear()
        for join in deferred:
            if s.state is MembState.OPERATIONAL:
                self.on_join(join)
