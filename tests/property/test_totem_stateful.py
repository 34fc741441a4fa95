"""Stateful property test of Totem SRP + votequorum: Hypothesis drives the cores.

``TotemMachine`` owns a 3-5 node cluster of sans-IO ``TotemNode`` cores (votequorum
plain, with wait_for_all, or with auto_tie_breaker + wait_for_all), a virtual
clock and an explicit pool of in-flight datagrams ``(dst, src, msg)``. Every rule is
one deterministic step, so Hypothesis chooses (and shrinks) the whole schedule:

- ``deliver(i)`` / ``drop(i)`` / ``duplicate(i)``: one in-flight datagram, chosen by
  index, so reordering, loss and duplication come for free; ``deliver_oldest(k)``: the
  k oldest in send order (a fast network); ``drop_to(node)``: a burst of loss at one
  receiver (everything in flight to it);
- ``tick(node)``: advance the clock to that node's next timer; ``advance(ms)``: move
  the clock on. Either way every live node's due timers fire, in time order;
- ``submit(node, safe, count)``: application messages with unique payloads;
- ``crash(node)`` / ``restart(node)``: a restart starts a new incarnation from the
  persisted ring sequence. Datagrams already in flight to a crashed node stay in
  flight and may reach its next incarnation (a delayed packet); nothing is queued
  for a node while it is down (no socket);
- ``partition(assign)`` / ``heal()``: datagrams between groups are dropped, both
  those in flight and later ones (a node's datagrams to itself use the loopback);
- ``settle(ms, deaf)``: the network runs for ``ms`` with a fixed latency, lossless
  except that node ``deaf`` (if drawn) loses every ordered message sent to it.

Invariants (named as ``ha.sim.checkers`` names them) are checked after every step;
virtual synchrony and safe delivery at teardown. Then liveness: everything heals,
crashed nodes restart, and within ``4 * (token timeout + consensus timeout)`` of
simulated time all nodes must be operational in one ring of every node, and a probe
from each node must then reach every node within the same bound.
"""

from __future__ import annotations

import os
import sys

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

from ha.sim.checkers import Checker
from ha.totem.config import TotemConfig
from ha.totem.effects import Persist, Send
from ha.totem.messages import Mcast
from ha.totem.node import TotemNode
from ha.totem.quorum import QuorumConfig

TOKEN_MS = 300
LATENCY_US = 100
"""One-way delay of the lossless network of ``settle`` and the liveness phase."""
QUORUM_OPTIONS: dict[str, dict[str, bool]] = {
    "plain": {},
    "wait_for_all": {"wait_for_all": True},
    "auto_tie_breaker": {"auto_tie_breaker": True, "wait_for_all": True},
}
"""votequorum options drawn per run (last_man_standing and two_node are exempt from
``one_quorate_partition`` by design, so they are left to the simulator's sweeps)."""
MAX_TICKS = 100_000
"""Timer firings one clock move may take; more means a core re-arms a timer in the past."""


class TotemMachine(RuleBasedStateMachine):
    """A Totem cluster whose every delivery, timer and fault is chosen by Hypothesis."""

    def __init__(self) -> None:
        super().__init__()
        self.ids: tuple[int, ...] = ()
        self.cores: dict[int, TotemNode | None] = {}
        self.persisted: dict[int, dict[str, int]] = {}
        self.incarnation: dict[int, int] = {}
        self.counter: dict[int, int] = {}
        self.pool: list[tuple[int, int, object]] = []
        self.group: dict[int, int] = {}
        self.now = 0
        self.checker = Checker()
        self.totem = TotemConfig(token=TOKEN_MS, token_coefficient=0)
        self.quorum = QuorumConfig(votes={1: 1})

    # ---- the cluster --------------------------------------------------------------------
    def _alive(self) -> list[int]:
        return [n for n in self.ids if self.cores[n] is not None]

    def _dead(self) -> list[int]:
        return [n for n in self.ids if self.cores[n] is None]

    def _cut(self, src: int, dst: int) -> bool:
        return src != dst and self.group.get(src, 0) != self.group.get(dst, 0)

    def _apply(self, n: int, effects: list[object]) -> None:
        for e in effects:
            self.checker.observe(self.now, n, e)
            if type(e) is Send:
                targets = [m for m in self.ids if m != n] if e.dest is None else [e.dest]
                for dst in targets:
                    if dst in self.cores and self.cores[dst] is not None and not self._cut(n, dst):
                        self.pool.append((dst, n, e.msg))
            elif type(e) is Persist:
                self.persisted[n][e.key] = e.value

    def _boot(self, n: int) -> None:
        self.incarnation[n] += 1
        core = TotemNode(n, self.totem, self.quorum, self.persisted[n].get("ring_seq", 0))
        self.cores[n] = core
        self._apply(n, core.start(self.now))

    def _deliver_at(self, i: int) -> None:
        dst, src, msg = self.pool.pop(i)
        core = self.cores[dst]
        if core is not None:
            self._apply(dst, core.receive(self.now, msg))

    def _next_timer(self) -> tuple[int, int] | None:
        best: tuple[int, int] | None = None
        for n in self._alive():
            d = self.cores[n].next_deadline()  # type: ignore[union-attr]
            if d is not None and (best is None or (d, n) < best):
                best = (d, n)
        return best

    def _tick_one(self, deadline: int, n: int) -> None:
        self.now = max(self.now, deadline)
        core = self.cores[n]
        assert core is not None
        self._apply(n, core.tick(self.now))

    def _advance_to(self, target_us: int) -> None:
        """Fire every live node's timers due by ``target_us``, in time order."""
        for _ in range(MAX_TICKS):
            nxt = self._next_timer()
            if nxt is None or nxt[0] > target_us:
                break
            self._tick_one(*nxt)
        else:
            raise AssertionError(f"timers keep firing at t={self.now / 1000:.3f} ms: "
                                 f"a core re-arms a timer that is already due")
        self.now = max(self.now, target_us)

    def _run_lossless(self, until_us: int, deaf: int | None = None) -> None:
        """The network delivers every datagram in send order, ``LATENCY_US`` apart,
        and timers fire in time order, until ``until_us``. Node ``deaf`` (if any)
        loses every ordered message (``Mcast``) sent to it, retransmissions included."""
        for _ in range(MAX_TICKS * 10):
            nxt = self._next_timer()
            if self.pool:
                t_msg = self.now + LATENCY_US
                if nxt is not None and nxt[0] <= min(t_msg, until_us):
                    self._tick_one(*nxt)
                elif t_msg <= until_us:
                    self.now = t_msg
                    if deaf is not None and self.pool[0][0] == deaf and type(self.pool[0][2]) is Mcast:
                        self.pool.pop(0)
                    else:
                        self._deliver_at(0)
                else:
                    break
            elif nxt is not None and nxt[0] <= until_us:
                self._tick_one(*nxt)
            else:
                break
        else:
            raise AssertionError(f"the cluster does not let time pass at t={self.now / 1000:.3f} ms")
        self.now = max(self.now, until_us)

    def _submit(self, n: int, payload: bytes, safe: bool) -> None:
        core = self.cores[n]
        assert core is not None
        self.checker.observe(self.now, n, ("submit", payload, safe))
        self._apply(n, core.mcast(self.now, payload, safe))

    def _violations(self, name: str) -> list[str]:
        return [str(v) for v in self.checker.violations if v.invariant == name]

    # ---- setup --------------------------------------------------------------------------
    @initialize(size=st.integers(3, 5), quorum=st.sampled_from(sorted(QUORUM_OPTIONS)),
                bootstrap=st.booleans())
    def setup(self, size: int, quorum: str, bootstrap: bool) -> None:
        self.ids = tuple(range(1, size + 1))
        self.totem = TotemConfig(token=TOKEN_MS, token_coefficient=0, nodes=self.ids)
        self.quorum = QuorumConfig(votes={n: 1 for n in self.ids}, **QUORUM_OPTIONS[quorum])
        for n in self.ids:
            self.cores[n] = None
            self.persisted[n] = {}
            self.incarnation[n] = 0
            self.counter[n] = 0
        for n in self.ids:
            self._boot(n)
        if bootstrap:
            self._run_lossless(self.now + 100_000)

    # ---- the network --------------------------------------------------------------------
    @precondition(lambda self: self.pool)
    @rule(i=st.integers(0, 1 << 16))
    def deliver(self, i: int) -> None:
        self._deliver_at(i % len(self.pool))

    @precondition(lambda self: self.pool)
    @rule(k=st.integers(1, 30))
    def deliver_oldest(self, k: int) -> None:
        for _ in range(min(k, len(self.pool))):
            self._deliver_at(0)

    @precondition(lambda self: self.pool)
    @rule(i=st.integers(0, 1 << 16))
    def drop(self, i: int) -> None:
        self.pool.pop(i % len(self.pool))

    @precondition(lambda self: self.pool)
    @rule(k=st.integers(0, 4))
    def drop_to(self, k: int) -> None:
        dst = self.ids[k % len(self.ids)]
        self.pool = [p for p in self.pool if p[0] != dst]

    @precondition(lambda self: self.pool)
    @rule(i=st.integers(0, 1 << 16))
    def duplicate(self, i: int) -> None:
        self.pool.append(self.pool[i % len(self.pool)])

    @rule(assign=st.lists(st.integers(0, 2), min_size=5, max_size=5))
    def partition(self, assign: list[int]) -> None:
        self.group = {n: assign[k] for k, n in enumerate(self.ids)}
        self.pool = [p for p in self.pool if not self._cut(p[1], p[0])]

    @precondition(lambda self: self.group)
    @rule()
    def heal(self) -> None:
        self.group = {}

    @rule(ms=st.sampled_from([5, 50, 500]), deaf=st.none() | st.integers(0, 4))
    def settle(self, ms: int, deaf: int | None) -> None:
        self._run_lossless(self.now + ms * 1000,
                           None if deaf is None else self.ids[deaf % len(self.ids)])

    # ---- time ---------------------------------------------------------------------------
    @precondition(lambda self: any(self.cores.values()))
    @rule(k=st.integers(0, 4))
    def tick(self, k: int) -> None:
        alive = self._alive()
        core = self.cores[alive[k % len(alive)]]
        assert core is not None
        d = core.next_deadline()
        if d is not None:
            self._advance_to(max(self.now, d))

    @rule(ms=st.integers(1, 700))
    def advance(self, ms: int) -> None:
        self._advance_to(self.now + ms * 1000)

    # ---- the application and node faults ---------------------------------------------------
    @precondition(lambda self: any(self.cores.values()))
    @rule(k=st.integers(0, 4), safe=st.booleans(), count=st.integers(1, 5))
    def submit(self, k: int, safe: bool, count: int) -> None:
        alive = self._alive()
        n = alive[k % len(alive)]
        for _ in range(count):
            self.counter[n] += 1
            self._submit(n, f"{n}.{self.incarnation[n]}.{self.counter[n]}".encode(), safe)

    @precondition(lambda self: any(self.cores.values()))
    @rule(k=st.integers(0, 4))
    def crash(self, k: int) -> None:
        alive = self._alive()
        n = alive[k % len(alive)]
        self.cores[n] = None
        self.checker.observe(self.now, n, ("crash",))

    @precondition(lambda self: not all(self.cores.values()))
    @rule(k=st.integers(0, 4))
    def restart(self, k: int) -> None:
        dead = self._dead()
        self._boot(dead[k % len(dead)])

    # ---- invariants ---------------------------------------------------------------------
    @invariant()
    def agreed_order(self) -> None:
        bad = self._violations("agreed_order")
        assert not bad, "\n".join(bad)

    @invariant()
    def no_duplication(self) -> None:
        bad = self._violations("no_duplication")
        assert not bad, "\n".join(bad)

    @invariant()
    def no_creation(self) -> None:
        bad = self._violations("no_creation")
        assert not bad, "\n".join(bad)

    @invariant()
    def membership_agreement(self) -> None:
        bad = self._violations("membership_agreement")
        assert not bad, "\n".join(bad)

    @invariant()
    def one_quorate_partition(self) -> None:
        bad = self._violations("one_quorate_partition")
        assert not bad, "\n".join(bad)

    def _check_finish(self, phase: str) -> None:
        self.checker.finish()
        for name in ("virtual_synchrony", "safe_delivery"):
            bad = self._violations(name)
            assert not bad, f"{phase}:\n" + "\n".join(bad)

    def teardown(self) -> None:
        if sys.exc_info()[0] is not None or not self.ids:
            return  # a step already failed: let Hypothesis report that failure alone
        self._check_finish("end of the fault phase")
        # ---- liveness: heal everything, restart the crashed, run losslessly -------------
        self.group = {}
        for n in self._dead():
            self._boot(n)
        bound_ms = 4 * (self.totem.token_timeout_ms + self.totem.consensus_timeout_ms)
        healed = self.now
        deadline = healed + bound_ms * 1000
        converged = False
        while not converged and self.now < deadline:
            self._run_lossless(min(deadline, self.now + 10_000))
            views = {(c.ring_id, c.members, c.state.value)
                     for c in self.cores.values() if c is not None}
            converged = views == {(next(iter(views))[0], self.ids, "operational")}
        if not converged:
            views_by_node = {n: (c.state.value, c.ring_id, c.members)
                             for n, c in self.cores.items() if c is not None}
            raise AssertionError(
                f"liveness violated: no single operational ring of all nodes {list(self.ids)} "
                f"within {bound_ms} ms after heal at t={healed / 1000:.3f} ms; "
                f"views: {views_by_node}")
        probes = {}
        for n in self.ids:
            probes[n] = f"probe.{n}.{self.incarnation[n]}".encode()
            self._submit(n, probes[n], True)
        self._run_lossless(self.now + bound_ms * 1000)
        missing = {n: sorted(p.decode() for p in probes.values()
                             if p not in self.checker.delivered[n]) for n in self.ids}
        missing = {n: m for n, m in missing.items() if m}
        assert not missing, (f"liveness violated: probes not delivered within {bound_ms} ms "
                             f"of convergence, by node: {missing}")
        # ---- the heal phase is held to every invariant too --------------------------------
        for name in ("agreed_order", "no_duplication", "no_creation",
                     "membership_agreement", "one_quorate_partition"):
            bad = self._violations(name)
            assert not bad, "after heal:\n" + "\n".join(bad)
        self._check_finish("after heal")


TotemMachine.TestCase.settings = settings(
    # HA_STATEFUL_EXAMPLES=2000 (say) soaks off CI: a subtle bug may need hundreds of runs.
    max_examples=int(os.environ.get("HA_STATEFUL_EXAMPLES", "200")),
    stateful_step_count=80,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestTotem = TotemMachine.TestCase
