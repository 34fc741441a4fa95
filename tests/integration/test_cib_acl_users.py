"""Pacemaker ACLs enforced on the control socket, with two real Unix users in the group
haclient (and a third outside it): the daemon learns who is asking from SO_PEERCRED."""

from __future__ import annotations

import grp
import json
import os
import pwd
import shutil
import subprocess
from collections.abc import Iterator
from typing import Any

import pytest

from ha.runtime.control import CLIENT_GROUP, ControlClient, ControlError
from harness.realcluster import HastackCluster

pytestmark = [pytest.mark.root]
USERS = ("hastack-alice", "hastack-bob", "hastack-carol")

ACLS = """<acls>
  <acl_role id="read-all"><acl_permission id="read-all-p" kind="read" xpath="/cib"/></acl_role>
  <acl_role id="no-status"><acl_permission id="no-status-p" kind="deny" xpath="/cib/status"/></acl_role>
  <acl_role id="rsc-writer">
    <acl_permission id="rsc-writer-p" kind="write" xpath="/cib/configuration/resources"/>
  </acl_role>
  <acl_target id="hastack-alice"><role id="read-all"/><role id="no-status"/></acl_target>
  <acl_target id="hastack-bob"><role id="read-all"/><role id="rsc-writer"/></acl_target>
</acls>"""
DUMMY = '<primitive id="{id}" class="ocf" provider="pacemaker" type="Dummy"/>'


def _missing() -> str | None:
    if os.geteuid() != 0:
        return "needs root to create users"
    for tool in ("useradd", "groupadd", "userdel"):
        if shutil.which(tool) is None:
            return f"`{tool}` is not installed"
    return None


@pytest.fixture(scope="module")
def users() -> Iterator[dict[str, pwd.struct_passwd]]:
    why = _missing()
    if why:
        pytest.skip(why)
    made_group = False
    try:
        grp.getgrnam(CLIENT_GROUP)
    except KeyError:
        subprocess.run(["groupadd", "--system", CLIENT_GROUP], check=True)
        made_group = True
    for u in USERS:
        subprocess.run(["userdel", u], capture_output=True, check=False)
        extra = ["-G", CLIENT_GROUP] if u != "hastack-carol" else []
        subprocess.run(["useradd", "--no-create-home", "--shell", "/usr/sbin/nologin", *extra, u],
                       check=True)
    try:
        yield {u: pwd.getpwnam(u) for u in USERS}
    finally:
        for u in USERS:
            subprocess.run(["userdel", u], capture_output=True, check=False)
        if made_group:
            subprocess.run(["groupdel", CLIENT_GROUP], capture_output=True, check=False)


def as_user(pw: pwd.struct_passwd, sock: str, op: str, **fields: Any) -> dict[str, Any]:
    """Ask the daemon as ``pw``: a forked child drops to the user's credentials."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # child
        try:
            os.close(r)
            os.setgroups(os.getgrouplist(pw.pw_name, pw.pw_gid))
            os.setgid(pw.pw_gid)
            os.setuid(pw.pw_uid)
            try:
                with ControlClient(sock, timeout=60) as c:
                    out = c.request(op, **fields)
            except ControlError as e:
                out = {"ok": False, "error": f"control: {e}"}
            os.write(w, json.dumps(out).encode())
        finally:
            os._exit(0)
    os.close(w)
    data = b""
    while chunk := os.read(r, 65536):
        data += chunk
    os.close(r)
    os.waitpid(pid, 0)
    return dict(json.loads(data))


@pytest.fixture(scope="module")
def cluster(users: dict[str, pwd.struct_passwd]) -> Iterator[HastackCluster]:
    base = f"/tmp/hastack-acl-{os.getpid()}"
    os.makedirs(base, exist_ok=True)
    os.chmod(base, 0o755)
    try:
        with HastackCluster(2, base, token=300, token_coefficient=0) as c:
            c.start_converged()
            c.wait_for("the CIB synced", lambda: not (c.try_ask(1, "cib_query") or
                                                        {"syncing": True})["syncing"], 30)
            for op, args, xml in (("create", {"section": "acls"}, ACLS),
                                  ("property", {"name": "enable-acl", "value": "true"}, ""),
                                  ("property", {"name": "stonith-enabled", "value": "false"}, "")):
                got = c.ask(1, "cib_update", cib_op=op, args=args, xml=xml)
                assert got["ok"], got
            yield c
    finally:
        shutil.rmtree(base, ignore_errors=True)


def test_reader_reads_but_cannot_write(cluster: HastackCluster,
                                       users: dict[str, pwd.struct_passwd]) -> None:
    sock = cluster.path(1, "sock")
    alice = users["hastack-alice"]
    q = as_user(alice, sock, "cib_query")
    assert q["ok"], q
    assert "<resources" in q["xml"] and "node_state" not in q["xml"]     # status denied
    w = as_user(alice, sock, "cib_update", cib_op="create", args={"section": "resources"},
                xml=DUMMY.format(id="a1"))
    assert not w["ok"] and w["exit"] == 4
    assert "hastack-alice" in w["error"] and "write" in w["error"]
    assert "a1" not in cluster.ask(2, "cib_query")["xml"]


def test_writer_writes_resources_only(cluster: HastackCluster,
                                      users: dict[str, pwd.struct_passwd]) -> None:
    sock = cluster.path(2, "sock")
    bob = users["hastack-bob"]
    ok = as_user(bob, sock, "cib_update", cib_op="create", args={"section": "resources"},
                 xml=DUMMY.format(id="b1"))
    assert ok["ok"], ok
    cluster.wait_for("b1 on node 1", lambda: 'id="b1"' in cluster.ask(1, "cib_query")["xml"], 20)
    no = as_user(bob, sock, "cib_update", cib_op="property",
                 args={"name": "maintenance-mode", "value": "true"}, xml="")
    assert not no["ok"] and no["exit"] == 4 and "crm_config" in no["error"]
    forced = as_user(bob, sock, "cib_update", cib_op="create", args={"section": "resources"},
                     xml=DUMMY.format(id="b2"), force=True)
    assert not forced["ok"] and "--force needs root" in forced["error"]


def test_non_members_and_root_only_requests(cluster: HastackCluster,
                                            users: dict[str, pwd.struct_passwd]) -> None:
    sock = cluster.path(1, "sock")
    carol = as_user(users["hastack-carol"], sock, "cib_query")
    assert not carol["ok"] and "permission denied" in carol["error"]
    stats = as_user(users["hastack-alice"], sock, "stats")
    assert not stats["ok"] and "stats needs root" in stats["error"]
    quorum = as_user(users["hastack-alice"], sock, "quorum")
    assert quorum["ok"] and quorum["quorate"]
