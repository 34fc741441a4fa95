"""Real `ha node run` daemons on loopback (127.0.0.x): membership, quorum, groups, CLI.

No root needed: each cluster gets its own UDP port on 127.0.0.1-3.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.realcluster import HastackCluster


def ha(*args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "ha.cli.main", *args], capture_output=True,
                          text=True, timeout=timeout)


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[HastackCluster]:
    with HastackCluster(3, str(tmp_path)) as c:
        c.start_converged()
        yield c


def test_membership_and_quorum_cli(cluster: HastackCluster) -> None:
    r = ha("membership", "--socket", cluster.path(2, "sock"), "--output-as=json")
    assert r.returncode == 0, r.stderr
    m = json.loads(r.stdout)
    assert m["state"] == "OPERATIONAL"
    assert [x["nodeid"] for x in m["members"]] == [1, 2, 3]
    assert [x["local"] for x in m["members"]] == [False, True, False]
    text = ha("quorum", "--socket", cluster.path(1, "sock"))
    assert text.returncode == 0, text.stderr
    assert "Quorate:          Yes" in text.stdout
    assert "Flags:            Quorate" in text.stdout
    q = json.loads(ha("quorum", "--socket", cluster.path(1, "sock"), "--output-as=json").stdout)
    assert (q["expected_votes"], q["total_votes"], q["quorum"]) == (3, 3, 2)


def test_group_messages_in_one_total_order(cluster: HastackCluster) -> None:
    listeners = [subprocess.Popen(
        [sys.executable, "-m", "ha.cli.main", "group", "listen", "chat", "--count", "30",
         "--timeout", "60", "--output-as=json", "--socket", cluster.path(i, "sock")],
        stdout=subprocess.PIPE, text=True) for i in cluster.nodes]
    # Every listener has joined once node 1 sees the group with all three nodes.
    cluster.wait_for("group chat has 3 members", lambda: cluster.ask(1, "groups")[
        "groups"].get("chat") == [1, 2, 3], 30)
    for k in range(10):
        for i in cluster.nodes:
            assert cluster.ask(i, "send", group="chat", data=f"m{k} from {i}")["ok"]
    outs = [p.communicate(timeout=60)[0] for p in listeners]
    summaries = [json.loads(o.splitlines()[-1]) for o in outs]
    assert all(s["messages"] == 30 for s in summaries), summaries
    assert len({s["order_hash"] for s in summaries}) == 1
    orders = [[(e["sender"], e["data"]) for e in map(json.loads, o.splitlines())
               if e.get("event") == "message"] for o in outs]
    assert orders[0] == orders[1] == orders[2]


def test_kill_and_restart(cluster: HastackCluster) -> None:
    cluster.kill_node(3)
    ring = cluster.wait_membership([1, 2], [1, 2])
    q = cluster.ask(1, "quorum")
    assert q["quorate"] and q["total_votes"] == 2
    cluster.start_node(3)
    ring2 = cluster.wait_membership(cluster.nodes, cluster.nodes)
    assert ring2[1] > ring[1]
    regular = [r for r in cluster.trace_records(1, "regular")]
    assert [r["members"] for r in regular][-2:] == [[1, 2], [1, 2, 3]]


def test_stats_count_foreign_datagrams(cluster: HastackCluster) -> None:
    import socket

    before = cluster.ask(1, "stats")["dropped"]
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.9", 0))        # not in the nodelist
        for _ in range(5):
            s.sendto(b"x" * 40, ("127.0.0.1", cluster.port))
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.2", 0))        # a member's address, but no valid packet
        for _ in range(7):
            s.sendto(b"HS\x01\x00" + b"\x00" * 80, ("127.0.0.1", cluster.port))
    cluster.wait_for("drops counted", lambda: (
        cluster.ask(1, "stats")["dropped"].get("unknown_address", 0)
        - before.get("unknown_address", 0) == 5
        and cluster.ask(1, "stats")["dropped"].get("bad_hmac", 0)
        - before.get("bad_hmac", 0) == 7), 10)
    text = ha("stats", "--socket", cluster.path(1, "sock"))
    assert "dropped.unknown_address: 5" in text.stdout
    assert cluster.members(1) == cluster.members(2)


def test_control_socket_refuses_bad_requests(cluster: HastackCluster) -> None:
    assert cluster.ask(1, "frobnicate")["error"].startswith("unknown op 'frobnicate'")
    assert "group" in cluster.ask(1, "send", data="x")["error"]
    r = ha("group", "send", "a" * 200, "hello", "--socket", cluster.path(1, "sock"))
    assert r.returncode == 1 and "group name" in r.stderr


def test_node_run_refuses_a_broken_config(tmp_path: Path) -> None:
    conf = tmp_path / "corosync.conf"
    conf.write_text("totem {\n  version: 2\n  token: soon\n}\n"
                    "nodelist {\n  node {\n    ring0_addr: 127.0.0.1\n    nodeid: 1\n  }\n}\n")
    r = ha("node", "run", "-c", str(conf), "--nodeid", "1")
    assert r.returncode == 2
    assert "corosync.conf:3" in r.stderr and "totem.token" in r.stderr


def test_node_run_needs_the_authkey(tmp_path: Path) -> None:
    c = HastackCluster(1, str(tmp_path))
    Path(c.keyfile).chmod(0o600)
    Path(c.keyfile).unlink()
    r = ha("node", "run", "-c", c.conf, "--nodeid", "1", "--socket", c.path(1, "sock"),
           "--state-dir", c.path(1, "state"))
    assert r.returncode == 2
    assert c.keyfile in r.stderr and "ha keygen" in r.stderr
