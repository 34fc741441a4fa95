"""Totem SRP behaviour seen from outside: rings form, messages are ordered, faults
are detected, and bad input is dropped and counted."""

from __future__ import annotations

import pytest

from ha.sim.checkers import Checker
from ha.sim.world import SimWorld
from ha.totem.config import TotemConfig, TotemConfigError
from ha.totem.effects import ConfigurationChange, Deliver
from ha.totem.messages import Mcast, MembJoin, OrfToken
from ha.totem.srp import TotemSRP
from ha.totem.state import MembState

FAST = dict(token=300, token_coefficient=0)


def world(n: int, seed: int = 1, **totem: int) -> tuple[SimWorld, Checker]:
    ids = tuple(range(1, n + 1))
    w = SimWorld(ids, seed=seed, totem=TotemConfig(nodes=ids, **{**FAST, **totem}))
    c = Checker()
    w.observers.append(c.observe)
    w.start()
    return w, c


def one_ring(w: SimWorld, members: tuple[int, ...]) -> bool:
    cores = [w.core(n) for n in members]
    return (len({c.ring_id for c in cores}) == 1
            and all(c.state is MembState.OPERATIONAL and c.members == members for c in cores))


def test_single_node_forms_a_ring_of_its_own() -> None:
    w, _ = world(1)
    w.run_for(200_000)
    assert one_ring(w, (1,))


@pytest.mark.parametrize("n", [2, 3, 5])
def test_nodes_form_one_ring(n: int) -> None:
    w, c = world(n)
    w.run_for(2_000_000)
    assert one_ring(w, tuple(range(1, n + 1)))
    assert not c.finish()


def test_messages_are_delivered_in_one_order_everywhere() -> None:
    w, c = world(3)
    w.run_for(1_000_000)
    for i in range(30):
        w.submit(1 + i % 3, f"m{i}".encode())
    w.run_for(1_000_000)
    orders = [[p for p in _delivered(c, n)] for n in (1, 2, 3)]
    assert len(orders[0]) == 30
    assert orders[0] == orders[1] == orders[2]


def _delivered(c: Checker, node: int) -> list[bytes]:
    return [p for ep in c.epochs[node] for p in ep.regular + ep.trans]


def test_safe_message_is_delivered_only_once_every_member_has_it() -> None:
    cfg = TotemConfig(nodes=(1, 2), **FAST)
    a = TotemSRP(1, cfg)
    out = a.start(0)
    # a forms a ring alone; its token loops back to itself through the "network"
    pending = [e for e in out]
    now = 0
    delivered: list[Deliver] = []
    for _ in range(200):
        now += 10
        nxt = []
        for e in pending:
            if getattr(e, "dest", "x") == 1:
                nxt += a.receive(now, e.msg)
            elif isinstance(e, Deliver):
                delivered.append(e)
        nxt += a.tick(now)
        if a.state is MembState.OPERATIONAL and not any(d.payload == b"s" for d in delivered) \
                and not a.backlog and now == 1000:
            nxt += a.mcast(now, b"s", safe=True)
        pending = nxt
    # In a one-node ring the token proves stability after two visits.
    assert [d.payload for d in delivered] == [b"s"]
    assert delivered[0].safe


def test_killed_node_leaves_the_ring_after_token_loss() -> None:
    w, c = world(3)
    w.run_for(1_000_000)
    w.crash(3)
    w.run_for(3_000_000)
    assert one_ring(w, (1, 2))
    changes = [e for e in c.config_members if not e[0]]
    assert any(members == (1, 2) for k, members in c.config_members.items() if not k[0])
    assert changes


def test_partition_then_heal_merges_rings() -> None:
    w, c = world(5)
    w.run_for(1_000_000)
    w.network.partition([[1, 2], [3, 4, 5]])
    w.run_for(3_000_000)
    assert one_ring(w, (1, 2)) and one_ring(w, (3, 4, 5))
    w.network.heal()
    w.run_for(3_000_000)
    assert one_ring(w, (1, 2, 3, 4, 5))
    assert not c.finish()


def test_transitional_configuration_comes_before_regular() -> None:
    w, _ = world(3)
    seen: list[tuple[int, bool]] = []
    w.observers.append(lambda t, n, e: seen.append((n, e.transitional))
                       if isinstance(e, ConfigurationChange) else None)
    w.run_for(1_000_000)
    w.crash(2)
    w.run_for(3_000_000)
    for node in (1, 3):
        kinds = [t for n, t in seen if n == node]
        assert kinds and kinds[::2] == [True] * len(kinds[::2]) and kinds[1::2] == [False] * len(kinds[1::2])


@pytest.mark.parametrize("garbage", [
    b"\x00\x01", "a string", 42, None,
    OrfToken(ring_id=(9, 9), token_seq="x", seq=0, aru=0, aru_addr=0, fcc=0, backlog=0,  # type: ignore[arg-type]
             retrans_flg=False, rtr=[]),
    MembJoin(sender=2, proc=None, failed=frozenset(), ring_seq=0),  # type: ignore[arg-type]
])
def test_malformed_input_is_dropped_and_counted(garbage: object) -> None:
    w, _ = world(3)
    w.run_for(1_000_000)
    core = w.core(2)
    ring = core.ring_id
    core.receive(w.now_us, garbage)
    dropped = sum(v for k, v in core.stats.items() if k.startswith("dropped"))
    assert dropped >= 1
    w.run_for(1_000_000)
    assert one_ring(w, (1, 2, 3)) and w.core(2).ring_id == ring


def test_forged_mcast_from_foreign_ring_never_delivers() -> None:
    w, c = world(3)
    w.run_for(1_000_000)
    w.core(1).receive(w.now_us, Mcast((77, 4), 1, 77, False, b"forged"))
    w.run_for(2_000_000)
    assert all(b"forged" not in c.delivered[n] for n in (1, 2, 3))


@pytest.mark.parametrize("kwargs, needle", [
    (dict(token=0), "totem.token"),
    (dict(window_size=10, max_messages=20), "max_messages"),
    (dict(token_coefficient=-1), "token_coefficient"),
    (dict(nodes=(1, 1)), "nodelist"),
])
def test_bad_config_names_the_option(kwargs: dict[str, object], needle: str) -> None:
    with pytest.raises(TotemConfigError, match=needle):
        TotemConfig(**kwargs)  # type: ignore[arg-type]


def test_corosync_defaults_and_derived_timeouts() -> None:
    c = TotemConfig(nodes=(1, 2, 3, 4, 5))
    assert (c.token, c.token_coefficient, c.join, c.merge) == (3000, 650, 50, 200)
    assert (c.fail_recv_const, c.seqno_unchanged_const, c.window_size, c.max_messages) == (2500, 30, 50, 17)
    assert (c.miss_count_const, c.token_retransmits_before_loss_const) == (5, 4)
    assert c.token_timeout_ms == 3000 + 3 * 650
    assert c.consensus_timeout_ms == int(1.2 * c.token_timeout_ms)
    assert c.token_retransmit_timeout_ms == int(c.token_timeout_ms / 4.2)
