"""The CIB through real daemons on loopback: the `ha cib` / `ha property` CLI, replication
to every node, quorum for configuration writes, persistence across restarts, and a
corrupt cib.xml refused at start and replaced by the cluster's copy."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from harness.realcluster import HastackCluster

DUMMY = '<primitive id="d1" class="ocf" provider="pacemaker" type="Dummy"/>'


def cli(c: HastackCluster, i: int, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "ha.cli.main", *args, "--socket", c.path(i, "sock")],
                          capture_output=True, text=True, timeout=90)


def query(c: HastackCluster, i: int, xpath: str | None = None) -> dict[str, Any]:
    return c.ask(i, "cib_query", **({"xpath": xpath} if xpath else {}))


def wait_cib(c: HastackCluster, nodes: list[int], what: str, pred: Any, timeout: float = 30) -> None:
    def ok() -> bool:
        for i in nodes:
            r = c.try_ask(i, "cib_query")
            if r is None or r.get("syncing") or not pred(r["xml"]):
                return False
        return True
    c.wait_for(what, ok, timeout)


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[HastackCluster]:
    with HastackCluster(3, str(tmp_path), token=300, token_coefficient=0) as c:
        c.start_converged()
        wait_cib(c, c.nodes, "all replicas synced with 3 node states",
                 lambda x: x.count("<node_state ") == 3)
        yield c


def test_create_replicates_and_query_by_xpath(cluster: HastackCluster) -> None:
    c = cluster
    r = cli(c, 1, "cib", "create", "-o", "resources", "--xml", DUMMY)
    assert r.returncode == 0, r.stderr
    wait_cib(c, [1, 2, 3], "d1 on every node", lambda x: 'id="d1"' in x)
    got = cli(c, 3, "cib", "query", "--xpath", "//primitive[@id='d1']")
    assert got.returncode == 0 and got.stdout.startswith('<primitive id="d1"')
    missing = cli(c, 2, "cib", "query", "--xpath", "//primitive[@id='nope']")
    assert missing.returncode == 105 and "no such object" in missing.stderr
    # identical replicas
    docs = {query(c, i)["xml"] for i in c.nodes}
    assert len(docs) == 1


def test_invalid_update_refused_whole(cluster: HastackCluster) -> None:
    c = cluster
    before = query(c, 1)["xml"]
    bad = cli(c, 2, "cib", "create", "-o", "resources", "--xml",
              '<primitive id="x1" class="foo" type="Dummy"/>')
    assert bad.returncode != 0
    assert "primitive 'x1'" in bad.stderr and "attribute 'class'" in bad.stderr
    assert query(c, 1)["xml"] == before
    malformed = cli(c, 2, "cib", "create", "--xml", "<primitive id='x2'")
    assert malformed.returncode != 0 and "create:1:19: not well-formed XML" in malformed.stderr


def test_properties_and_modify_delete(cluster: HastackCluster) -> None:
    c = cluster
    assert cli(c, 1, "property", "set", "stonith-enabled", "false").returncode == 0
    wait_cib(c, [1, 2, 3], "property on every node", lambda x: 'name="stonith-enabled"' in x)
    got = cli(c, 2, "property", "get", "stonith-enabled")
    assert got.returncode == 0 and got.stdout.strip() == "false"
    assert cli(c, 1, "cib", "create", "-o", "resources", "--xml", DUMMY).returncode == 0
    mod = cli(c, 3, "cib", "modify", "--xml", '<primitive id="d1" description="hello"/>')
    assert mod.returncode == 0, mod.stderr
    wait_cib(c, [1, 2, 3], "description everywhere", lambda x: 'description="hello"' in x)
    assert cli(c, 2, "cib", "delete", "--xml", '<primitive id="d1"/>').returncode == 0
    wait_cib(c, [1, 2, 3], "d1 gone everywhere", lambda x: 'id="d1"' not in x)
    assert cli(c, 1, "property", "unset", "stonith-enabled").returncode == 0
    assert cli(c, 1, "property", "get", "stonith-enabled").returncode == 105


def test_quorum_needed_then_force_and_rejoin(cluster: HastackCluster) -> None:
    c = cluster
    c.kill_node(2)
    c.kill_node(3)
    c.wait_for("node 1 alone", lambda: (c.members(1) or ((0, 0), ()))[1] == (1,), 30)
    c.wait_for("node 1 inquorate", lambda: not (c.try_ask(1, "quorum") or {}).get("quorate", True), 30)
    r = cli(c, 1, "cib", "create", "-o", "resources", "--xml", DUMMY)
    assert r.returncode != 0 and "no quorum" in r.stderr
    f = cli(c, 1, "cib", "create", "-o", "resources", "--xml", DUMMY, "--force")
    assert f.returncode == 0, f.stderr
    c.start_node(2)
    c.start_node(3)
    c.wait_membership(c.nodes, c.nodes, 30)
    wait_cib(c, [1, 2, 3], "the forced write reached the restarted nodes", lambda x: 'id="d1"' in x)


def test_persistence_and_corrupt_cib_taken_from_the_cluster(cluster: HastackCluster) -> None:
    c = cluster
    assert cli(c, 1, "cib", "create", "-o", "resources", "--xml", DUMMY).returncode == 0
    wait_cib(c, [1, 2, 3], "d1 everywhere", lambda x: 'id="d1"' in x)
    # every node restarts from its own disk
    for i in c.nodes:
        c.kill_node(i)
    for i in c.nodes:
        c.start_node(i)
    c.wait_membership(c.nodes, c.nodes, 30)
    wait_cib(c, [1, 2, 3], "d1 survived the restart", lambda x: 'id="d1"' in x)
    # node 3's cib.xml is damaged while it is down
    c.kill_node(3)
    cib = Path(c.path(3, "state")) / "cib" / "cib.xml"
    data = cib.read_bytes()
    cib.write_bytes(data.replace(b'id="d1"', b'id="d9"'))
    c.start_node(3)
    c.wait_membership(c.nodes, c.nodes, 30)
    wait_cib(c, [3], "node 3 took the cluster's copy", lambda x: 'id="d1"' in x)
    c.wait_for("the refusal logged", lambda: "refused the local CIB" in c.log_text(3)
               and "digest mismatch" in c.log_text(3), 10)
    assert list(cib.parent.glob("cib.xml.corrupt-*")), "the bad file was not kept aside"


def test_diff_patch_verify_and_json(cluster: HastackCluster, tmp_path: Path) -> None:
    c = cluster
    old = query(c, 1)["xml"]
    a = tmp_path / "a.xml"
    b = tmp_path / "b.xml"
    a.write_text(old)
    b.write_text(old.replace("<resources/>", f"<resources>{DUMMY}</resources>"))
    d = subprocess.run([sys.executable, "-m", "ha.cli.main", "cib", "diff", str(a), str(b)],
                       capture_output=True, text=True, timeout=60)
    assert d.returncode == 1 and 'operation="create"' in d.stdout        # as crm_diff: 1 = differ
    p = tmp_path / "p.xml"
    p.write_text(d.stdout)
    r = cli(c, 2, "cib", "patch", str(p))
    assert r.returncode == 0, r.stderr
    wait_cib(c, [1, 2, 3], "the patch applied everywhere", lambda x: 'id="d1"' in x)
    again = cli(c, 2, "cib", "patch", str(p))                 # its base version is gone now
    assert again.returncode != 0 and "version" in again.stderr
    v = cli(c, 3, "cib", "verify", "--live")
    assert v.returncode == 0, v.stderr
    bad = tmp_path / "bad.xml"
    bad.write_text(old.replace("<resources/>", '<resources><primitive id="z" class="ocf" '
                               'type="Dummy"/></resources>'))
    vb = subprocess.run([sys.executable, "-m", "ha.cli.main", "cib", "verify", str(bad)],
                        capture_output=True, text=True, timeout=60)
    assert vb.returncode == 2 and "primitive 'z'" in vb.stderr and "provider" in vb.stderr
    j = cli(c, 1, "cib", "query", "--xpath", "//primitive", "--output-as", "json")
    assert j.returncode == 0 and json.loads(j.stdout)["xml"].startswith('<primitive id="d1"')
