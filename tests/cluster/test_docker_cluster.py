"""DockerCluster on a real engine: 3 nodes from the offline node image, faults of every
kind (kill, daemon kill, pause, nftables isolation), and nothing left behind.

Every wait polls the daemons' reports with a deadline; nothing asserts a duration.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from harness.docker_cluster import DockerCluster, DockerError, clusters, down_by_label, reap_orphans
from harness.image import build, client, unavailable

pytestmark = [pytest.mark.docker]

ISOLATE = """\
add table inet ha_fault
add chain inet ha_fault input { type filter hook input priority -10; policy accept; }
add chain inet ha_fault output { type filter hook output priority -10; policy accept; }
add rule inet ha_fault input iif != lo drop
add rule inet ha_fault output oif != lo drop
"""
HEAL = "delete table inet ha_fault\n"


def _until(what: str, pred: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not pred():
        assert time.monotonic() < deadline, f"{what}: not reached in {timeout:g} s"
        time.sleep(0.1)


@pytest.fixture(scope="module")
def image() -> str:
    why = unavailable()
    if why:
        pytest.skip(f"Docker is unavailable: {why}")
    return build(progress=lambda line: None)


@pytest.fixture(scope="module")
def cluster(image: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[DockerCluster]:

    c = DockerCluster(f"t{os.getpid()}", 3, workdir=tmp_path_factory.mktemp("dc"),
                      totem={"token": 1000}, ephemeral=True)
    try:
        c.up(timeout=90)
        yield c
    finally:
        c.down()


def test_three_nodes_form_one_quorate_ring(cluster: DockerCluster) -> None:
    cluster.wait_quorum(timeout=60)
    rows = cluster.status()
    assert [r["node"] for r in rows] == [1, 2, 3]
    assert {r["ring_id"] for r in rows} != {None} and len({r["ring_id"] for r in rows}) == 1
    for r in rows:
        assert r["state"] == "running" and r["daemon"] and r["quorate"]
        assert r["members"] == [1, 2, 3]
        assert r["container"] == cluster.container_name(r["node"])
    assert cluster.addr(2).endswith(".12")
    m = cluster.ask(1, "membership")
    assert m is not None and m["node_id"] == 1 and m["state"] == "OPERATIONAL"


def test_kill_and_restart_a_node(cluster: DockerCluster) -> None:
    cluster.wait_quorum(timeout=60)
    cluster.kill(3)
    assert not cluster.running(3) and not cluster.daemon_running(3)
    assert cluster.ask(3, "quorum") is None
    cluster.wait_quorum([1, 2], timeout=60)
    # the killed node's trace and log are on the host (bind mount)
    assert cluster.trace_path(3).stat().st_size > 0 and cluster.log_path(3).stat().st_size > 0
    cluster.restart(3)
    cluster.wait_quorum(timeout=60)


def test_kill_and_start_the_daemon_only(cluster: DockerCluster) -> None:
    cluster.wait_quorum(timeout=60)
    cluster.kill_daemon(2)
    assert cluster.running(2) and not cluster.daemon_running(2)
    assert cluster.ask(2, "quorum") is None
    cluster.wait_quorum([1, 3], timeout=60)
    cluster.start_daemon(2)
    assert cluster.daemon_running(2)
    cluster.wait_quorum(timeout=60)


def test_pause_and_resume(cluster: DockerCluster) -> None:
    cluster.wait_quorum(timeout=60)
    cluster.pause(1)
    try:
        assert not cluster.running(1) and cluster.ask(1, "quorum") is None
        assert cluster.status()[0]["state"] == "paused"
        cluster.wait_quorum([2, 3], timeout=60)
    finally:
        cluster.resume(1)
    cluster.wait_quorum(timeout=60)


def test_nft_isolation_makes_the_node_inquorate(cluster: DockerCluster) -> None:
    cluster.wait_quorum(timeout=60)
    cluster.nft(3, ISOLATE)
    try:
        cluster.wait_quorum([1, 2], timeout=60)

        def alone() -> bool:
            q = cluster.ask(3, "quorum")
            return q is not None and not q["quorate"] and [m["nodeid"] for m in q["members"]] == [3]

        _until("n3 alone and inquorate", alone, 60)
    finally:
        cluster.nft(3, HEAL)
    cluster.wait_quorum(timeout=60)


def test_a_bad_nft_script_names_the_node(cluster: DockerCluster) -> None:
    with pytest.raises(DockerError, match=r"(?s)n2: nft -f - failed.*add tabel"):
        cluster.nft(2, "add tabel inet ha_fault\n")


def test_exec_timeout_names_node_and_command(cluster: DockerCluster) -> None:
    r = cluster.exec(1, ["cat"], input="through stdin\n")
    assert (r.returncode, r.stdout) == (0, "through stdin\n")
    with pytest.raises(DockerError, match=r"n1: `sleep 30` did not finish in 1 s"):
        cluster.exec(1, ["sleep", "30"], timeout=1.0)


def test_attach_and_clusters_find_it(cluster: DockerCluster) -> None:
    again = DockerCluster.attach(cluster.name)
    assert again.nodes == [1, 2, 3] and again.workdir == cluster.workdir
    assert [again.addr(i) for i in again.nodes] == [cluster.addr(i) for i in cluster.nodes]
    assert again.ask(2, "quorum") is not None
    mine = [c for c in clusters() if c["name"] == cluster.name]
    assert len(mine) == 1 and mine[0]["nodes"] == [1, 2, 3] and mine[0]["owner_alive"]
    with pytest.raises(DockerError, match="no-such-cluster"):
        DockerCluster.attach("no-such-cluster")


def test_reap_orphans_removes_ephemeral_clusters_of_dead_owners(image: str) -> None:
    dead = subprocess.Popen(["true"])
    dead.wait()
    name = f"orphan{os.getpid()}"
    labels = {"io.hastack.cluster": name, "io.hastack.owner-pid": str(dead.pid),
              "io.hastack.ephemeral": "1"}
    net = client().api.create_network(f"hastack-{name}", labels=labels)
    try:
        assert name in reap_orphans()
        assert not client().api.networks(filters={"label": f"io.hastack.cluster={name}"})
    finally:
        if client().api.networks(filters={"label": f"io.hastack.cluster={name}"}):
            client().api.remove_network(net["Id"])


def test_up_failure_leaves_nothing(image: str, tmp_path: Path) -> None:
    c = DockerCluster(f"bad{os.getpid()}", 1, workdir=tmp_path, ephemeral=True,
                      totem={"crypto_cipher": "rot13"})    # the daemon refuses this config
    with pytest.raises(DockerError, match=r"(?s)daemon of n1 exited.*crypto_cipher"):
        c.up(timeout=8)
    assert not [x for x in clusters() if x["name"] == c.name]


def test_down_leaves_nothing_with_the_label(cluster: DockerCluster) -> None:
    cluster.down()
    label = {"label": f"io.hastack.cluster={cluster.name}"}
    assert not client().api.containers(all=True, filters=label)
    assert not client().api.networks(filters=label)
    cluster.down()                                   # safe twice
    assert down_by_label(cluster.name) == []
