"""The ha_cluster fixture, on the simulator backend (the Docker backend: tests/cluster)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from harness.pytest_plugin import LiveCluster, StepFailed

pytest_plugins = ["pytester"]


@pytest.mark.ha_cluster(nodes=5, backend="sim", totem={"token": 1000})
def test_fixture_drives_a_partition(ha_cluster: Any) -> None:
    ha_cluster.wait(ring="all", quorate="all", within="30s")
    ha_cluster.do({"partition": "1,2|3,4,5"})
    ha_cluster.wait(ring=[3, 4, 5], quorate=[3, 4, 5], within="20s")
    ha_cluster.wait(ring=[1, 2], inquorate=[1, 2], within="20s")
    views = ha_cluster.views()
    assert views[1]["members"] == [1, 2] and not views[1]["quorate"]
    ha_cluster.do({"heal": "all"})
    ha_cluster.wait(ring="all", within="20s")
    ha_cluster.assert_checks()


def test_failed_step_raises_with_the_views(tmp_path: Path) -> None:
    c = LiveCluster("sim", 3, tmp_path, totem={"token": 1000})
    try:
        c.wait(ring="all", within="30s")
        c.do({"isolate": 1})
        with pytest.raises(StepFailed, match="not reached within 3000 ms: n1: "):
            c.wait(ring=[1, 2], within="3s")
        with pytest.raises(StepFailed, match="unknown action 'explode'"):
            c.do({"explode": 1})
    finally:
        c.close()
    assert (tmp_path / "report.html").exists() and (tmp_path / "result.json").exists()


def test_checks_catch_a_split_brain(tmp_path: Path) -> None:
    """two_node without its exemption: the checkers see both halves quorate."""
    c = LiveCluster("sim", 2, tmp_path, totem={"token": 1000}, quorum={"two_node": 1})
    try:
        c.wait(ring="all", quorate="all", within="30s")
        c.do({"partition": "1|2"})
        c.wait(ring=[1], quorate=[1], within="20s")
        c.wait(ring=[2], quorate=[2], within="20s")
        c.assert_checks()                      # exempt: two_node
        c.sc.quorum = {}
        with pytest.raises(AssertionError, match="one_quorate_partition violated"):
            c.assert_checks()
    finally:
        c.close()


def test_cluster_closed_even_when_the_test_fails(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("""
        import pytest
        from harness import pytest_plugin

        def test_fails(ha_cluster):
            ha_cluster.wait(ring="all", within="30s")
            assert False, "boom"

        def test_after():
            assert pytest_plugin._LIVE == {}
    """)
    res = pytester.runpytest_inprocess("-p", "no:cacheprovider")
    res.assert_outcomes(failed=1, passed=1)
