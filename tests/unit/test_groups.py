"""Process groups: every member sees the group's messages and membership changes in
the same total order."""

from __future__ import annotations

import pytest

from ha.sim.world import SimWorld
from ha.totem.config import TotemConfig
from ha.totem.effects import GroupChange, GroupMessage
from ha.totem.groups import GroupError, GroupMessageError, ProcessGroups


def cluster(n: int) -> tuple[SimWorld, dict[int, list[object]]]:
    ids = tuple(range(1, n + 1))
    w = SimWorld(ids, seed=3, totem=TotemConfig(token=300, token_coefficient=0, nodes=ids))
    seen: dict[int, list[object]] = {i: [] for i in ids}
    w.observers.append(lambda t, node, e: seen[node].append(e)
                       if isinstance(e, (GroupChange, GroupMessage)) else None)
    w.start()
    w.run_for(1_000_000)
    return w, seen


def test_members_see_joins_and_messages_in_the_same_order() -> None:
    w, seen = cluster(3)
    for n in (1, 2, 3):
        w.join(n, "cib")
    w.run_for(500_000)
    for i in range(20):
        w.send(1 + i % 3, "cib", f"u{i}".encode())
    w.join(3, "fencer")
    w.run_for(1_000_000)
    streams = [[(type(e).__name__, getattr(e, "payload", None), getattr(e, "members", None))
                for e in seen[n] if getattr(e, "group", "") == "cib"] for n in (1, 2, 3)]
    msgs = [[p for k, p, _ in s if k == "GroupMessage"] for s in streams]
    assert len(msgs[0]) == 20 and msgs[0] == msgs[1] == msgs[2]
    final = [e for e in seen[1] if isinstance(e, GroupChange) and e.group == "cib"][-1]
    assert final.members == (1, 2, 3)
    assert not any(isinstance(e, GroupChange) and e.group == "fencer" for e in seen[1])


def test_crashed_node_leaves_its_groups() -> None:
    w, seen = cluster(3)
    for n in (1, 2, 3):
        w.join(n, "controller")
    w.run_for(500_000)
    w.crash(3)
    w.run_for(3_000_000)
    last = [e for e in seen[1] if isinstance(e, GroupChange)][-1]
    assert last.members == (1, 2) and last.left == (3,)


def test_only_members_receive_group_messages() -> None:
    w, seen = cluster(3)
    w.join(1, "attrd")
    w.join(2, "attrd")
    w.run_for(500_000)
    w.send(3, "attrd", b"from outside")
    w.run_for(500_000)
    got = {n: [e.payload for e in seen[n] if isinstance(e, GroupMessage)] for n in (1, 2, 3)}
    assert got == {1: [b"from outside"], 2: [b"from outside"], 3: []}


def test_leave_is_ordered_and_announced() -> None:
    w, seen = cluster(2)
    w.join(1, "g")
    w.join(2, "g")
    w.run_for(500_000)
    w._apply(w.nodes[2], w.core(2).leave(w.now_us, "g"))
    w.run_for(500_000)
    last = [e for e in seen[1] if isinstance(e, GroupChange)][-1]
    assert last.members == (1,) and last.left == (2,)


@pytest.mark.parametrize("name", ["", "x" * 128, "a\0b"])
def test_bad_group_names_are_refused(name: str) -> None:
    with pytest.raises(GroupError, match="group name"):
        ProcessGroups(1).join(name)


@pytest.mark.parametrize("data", [b"", b"Z", b"M\x05ab"])
def test_malformed_group_messages_raise_a_peer_error(data: bytes) -> None:
    with pytest.raises((GroupMessageError, ValueError)):
        ProcessGroups(1).deliver(2, data, (1, 4), 1)


def test_packed_group_messages_are_delivered_one_by_one_in_order() -> None:
    from ha.totem.config import TotemConfig
    from ha.totem.effects import GroupMessage
    from ha.totem.node import TotemNode
    from ha.totem.quorum import QuorumConfig

    totem = TotemConfig(token=300, token_coefficient=0, nodes=(1, 2, 3))
    quorum = QuorumConfig(votes={1: 1, 2: 1, 3: 1})
    nodes = {n: TotemNode(n, totem, quorum, pack_limit=1200) for n in (1, 2, 3)}
    got: dict[int, list[tuple[int, bytes, int]]] = {1: [], 2: [], 3: []}
    inflight: list[tuple[int, object]] = []
    now = 0

    def apply(n: int, effects: list[object]) -> None:
        from ha.totem.effects import Send
        for e in effects:
            if isinstance(e, Send):
                for dst in ((1, 2, 3) if e.dest is None else (e.dest,)):
                    if e.dest is not None or dst != n:
                        inflight.append((dst, e.msg))
            elif isinstance(e, GroupMessage):
                got[n].append((e.sender, e.payload, e.seq))

    def run(until: int) -> None:
        nonlocal now
        while now < until:
            while inflight:
                dst, msg = inflight.pop(0)
                apply(dst, nodes[dst].receive(now, msg))
            now += 1000
            for n in nodes:
                apply(n, nodes[n].tick(now))

    for n in nodes:
        apply(n, nodes[n].start(0))
    run(2_000_000)
    assert nodes[1].members == (1, 2, 3)
    for n in nodes:
        apply(n, nodes[n].join(now, "g"))
    run(now + 200_000)
    for k in range(40):
        apply(1, nodes[1].send(now, "g", b"m%03d" % k))
    assert nodes[1].srp.backlog < 40          # packed: fewer Totem messages than sends
    run(now + 500_000)
    for n in nodes:
        assert [p for _, p, _ in got[n]] == [b"m%03d" % k for k in range(40)]
        assert len({seq for _, _, seq in got[n]}) < 40


def test_badly_framed_packed_message_is_dropped_and_counted() -> None:
    from ha.totem.config import TotemConfig
    from ha.totem.effects import Deliver
    from ha.totem.node import TotemNode
    from ha.totem.quorum import QuorumConfig

    node = TotemNode(1, TotemConfig(nodes=(1,)), QuorumConfig(votes={1: 1}), pack_limit=1200)
    for bad in (b"P\x00", b"P\x00\x05Gab", b"P\x00\x00", b"P\x00\x03P\x00\x00"):
        out = node._on_deliver(0, Deliver(2, (1, 4), 7, bad, False), [])
        assert [e.fields["reason"] for e in out] == ["packed message"]   # type: ignore[union-attr]
    assert node.stats["dropped_service_message"] == 4
