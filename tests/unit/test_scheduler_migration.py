"""Live migration: "Migrate" instead of "Move" for resources with allow-migrate, and
when a migration is given up for a stop and start.

Every expected summary here was checked with Pacemaker 2.1.5's ``crm_simulate -x FILE -S``.
"""

from __future__ import annotations

from lxml import etree
from test_scheduler_cibs import cib, history, node_state, nv, op, prim, two_nodes

from ha.scheduler import schedule

MIGRATE = nv("allow-migrate", "true")


def summary(root: etree._Element) -> list[tuple[str, str, str, str]]:
    return [(c.verb, c.resource, c.details, c.reason) for c in schedule(root).changes]


def ban(rid: str, node: str) -> str:
    return f'<rsc_location id="ban-{rid}" rsc="{rid}" node="{node}" score="-INFINITY"/>'


def order(first: str, then: str) -> str:
    return f'<rsc_order id="o-{first}-{then}" first="{first}" then="{then}"/>'


def test_a_migratable_resource_moving_migrates() -> None:
    root = cib(["node1", "node2"], prim("A", MIGRATE), ban("A", "node1"),
               two_nodes(history("A", op("A", "start"))))
    assert summary(root) == [("Migrate", "A", "node1 -> node2", "")]


def test_without_allow_migrate_it_moves() -> None:
    root = cib(["node1", "node2"], prim("A"), ban("A", "node1"),
               two_nodes(history("A", op("A", "start"))))
    assert summary(root) == [("Move", "A", "node1 -> node2", "")]


def test_a_failed_resource_is_recovered_not_migrated() -> None:
    root = cib(["node1", "node2"], prim("A", MIGRATE), ban("A", "node1"),
               two_nodes(history("A", op("A", "start", rc=1))))
    assert summary(root) == [("Recover", "A", "node1 -> node2", "")]


def test_a_migrating_first_does_not_restart_what_follows() -> None:
    root = cib(["node1", "node2"], prim("A", MIGRATE) + prim("B"),
               ban("A", "node1") + order("A", "B")
               + '<rsc_location id="l-B" rsc="B" node="node2" score="100"/>',
               two_nodes(history("A", op("A", "start")), history("B", op("B", "start"))))
    assert summary(root) == [("Migrate", "A", "node1 -> node2", "")]


def test_after_a_first_moving_by_stop_and_start_it_cannot_migrate() -> None:
    root = cib(["node1", "node2"], prim("A") + prim("B", MIGRATE),
               ban("A", "node1") + ban("B", "node1") + order("A", "B"),
               two_nodes(history("A", op("A", "start")) + history("B", op("B", "start"))))
    assert summary(root) == [("Move", "A", "node1 -> node2", ""),
                             ("Move", "B", "node1 -> node2", "unrunnable A stop")]


def migrate_op(task: str, call: int, rc: int = 0) -> str:
    return op("A", task, rc=rc, call=call).replace(
        "/>", f' migrate_source="node1" migrate_target="node2" last-rc-change="{1000 + call}"/>')


def test_a_partial_migration_to_the_same_target_continues() -> None:
    lrm1 = history("A", op("A", "start", call=2), migrate_op("migrate_to", 3))
    lrm2 = history("A", op("A", "monitor", rc=7, call=1))
    root = cib(["node1", "node2"], prim("A", MIGRATE), ban("A", "node1"), two_nodes(lrm1, lrm2))
    assert summary(root) == [("Migrate", "A", "node1 -> node2", "")]


def test_a_finished_migration_leaves_it_only_on_the_target() -> None:
    lrm1 = history("A", op("A", "start", call=2), migrate_op("migrate_to", 3))
    lrm2 = history("A", op("A", "monitor", rc=7, call=1), migrate_op("migrate_from", 4))
    root = cib(["node1", "node2"], prim("A", MIGRATE), ban("A", "node1"), two_nodes(lrm1, lrm2))
    assert summary(root) == []


def test_a_failed_migrate_from_recovers_it() -> None:
    lrm1 = history("A", op("A", "start", call=2), migrate_op("migrate_to", 3))
    lrm2 = history("A", op("A", "monitor", rc=7, call=1), migrate_op("migrate_from", 4, rc=1))
    root = cib(["node1", "node2"], prim("A", MIGRATE), ban("A", "node1"), two_nodes(lrm1, lrm2))
    assert summary(root) == [("Recover", "A", "node2", "")]


def test_a_group_ordered_after_a_stop_and_start_still_migrates() -> None:
    group = (f'<group id="G">{prim("B", MIGRATE)}'
             f'{prim("C", MIGRATE.replace("nv-allow", "nv-c-allow"))}</group>')
    lrm = (history("A", op("A", "start")) + history("B", op("B", "start"))
           + history("C", op("C", "start")))
    root = cib(["node1", "node2"], prim("A") + group,
               ban("A", "node1") + ban("G", "node1") + order("A", "G"), two_nodes(lrm))
    assert summary(root) == [("Move", "A", "node1 -> node2", ""),
                             ("Migrate", "B", "node1 -> node2", ""),
                             ("Migrate", "C", "node1 -> node2", "")]


def test_a_remote_connection_migrates_unless_told_otherwise() -> None:
    remote = prim("R").replace('type="Dummy"', 'type="remote"')
    lrm = history("R", op("R", "start")).replace('type="Dummy"', 'type="remote"')
    root = cib(["node1", "node2"], remote, ban("R", "node1"), two_nodes(lrm))
    assert summary(root) == [("Migrate", "R", "node1 -> node2", "")]


def test_after_a_finished_migration_whose_stop_is_pending_it_moves() -> None:
    lrm1 = history("A", op("A", "start", call=2), migrate_op("migrate_to", 3))
    lrm2 = history("A", op("A", "monitor", rc=7, call=1), migrate_op("migrate_from", 4))
    bans = ('<rsc_location id="b1" rsc="A" node="node1" score="-INFINITY"/>'
            '<rsc_location id="b2" rsc="A" node="node2" score="-INFINITY"/>')
    root = cib(["node1", "node2", "node3"], prim("A", MIGRATE), bans,
               two_nodes(lrm1, lrm2) + node_state("node3", "3"))
    assert summary(root) == [("Move", "A", "node2 -> node3", "")]


def test_a_failed_migrate_to_then_a_stop_restarts_the_assumed_target_copy() -> None:
    probe = op("A", "monitor", rc=7, call=1).replace("/>", ' last-rc-change="1001"/>')
    lrm1 = history("A", op("A", "start", call=2), migrate_op("migrate_to", 3, rc=1),
                   op("A", "stop", call=4))
    root = cib(["node1", "node2"], prim("A", MIGRATE), ban("A", "node1"),
               two_nodes(lrm1, history("A", probe)))
    assert summary(root) == [("Restart", "A", "node2", "")]
