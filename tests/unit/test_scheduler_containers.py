"""Resources inside a container resource (``container`` meta attribute).

Every expected summary here was checked with Pacemaker 2.1.5's ``crm_simulate -x FILE -R``.
"""

from __future__ import annotations

from lxml import etree
from test_scheduler_cibs import cib, history, node_state, nv, op, prim

from ha.scheduler import schedule


def summary(root: etree._Element) -> list[tuple[str, str, str, str]]:
    return [(c.verb, c.resource, c.details, c.reason) for c in schedule(root).changes]


def resources() -> str:
    return (prim("C", nv("migration-threshold", "3"))
            + prim("A", '<nvpair id="a-c" name="container" value="C"/>')
            + prim("B", '<nvpair id="b-c" name="container" value="C"/>'))


def test_fillers_start_where_their_container_starts() -> None:
    root = cib(["node1", "node2"], resources(),
               status=node_state("node1", "1") + node_state("node2", "2"))
    assert summary(root) == [("Start", "C", "node1", ""), ("Start", "A", "node1", ""),
                             ("Start", "B", "node1", "")]


def test_a_filler_failure_restarts_its_container() -> None:
    lrm = (history("C", op("C", "start")) + history("B", op("B", "start", call=4))
           + history("A", op("A", "start", call=3),
                     op("A", "monitor", rc=7, call=5, interval=10000)))
    root = cib(["node1", "node2"], resources(),
               status=node_state("node1", "1", lrm) + node_state("node2", "2"))
    assert summary(root) == [("Restart", "C", "node1", ""), ("Recover", "A", "node1", ""),
                             ("Restart", "B", "node1", "required C start")]


def test_fillers_fail_counts_count_towards_the_container() -> None:
    lrm = (history("C", op("C", "start")) + history("B", op("B", "start", call=4))
           + history("A", op("A", "start", call=3)))
    counts = "".join(f'<nvpair id="f{r}" name="fail-count-{r}#monitor_10000" value="1"/>'
                     for r in "CAB")
    status = (node_state("node1", "1", lrm, transient=counts)
              + node_state("node2", "2"))
    root = cib(["node1", "node2"], resources(), status=status)
    assert summary(root) == [("Move", "C", "node1 -> node2", ""),
                             ("Move", "A", "node1 -> node2", ""),
                             ("Move", "B", "node1 -> node2", "")]
