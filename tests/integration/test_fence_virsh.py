"""fence_virsh (Debian's fence-agents) through the project's fence runner, over SSH to a
loopback sshd, against libvirt LXC domains (harness.virsh_lab): list, status, off (the
domain's init process really dies), on, reboot, and a wrong key failing.

The target is passed as ``plug`` (fence_virsh's host argument: a domain name or UUID).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from ha.runtime.fence_runner import FenceResult, run_fence_agent_sync
from harness import virsh_lab
from harness.fencer_host import FencerHost, device_cib
from harness.virsh_lab import VirshLab

_missing = virsh_lab.missing()
if not os.access("/usr/sbin/fence_virsh", os.X_OK) and shutil.which("fence_virsh") is None:
    _missing.append("fence_virsh (fence-agents)")
pytestmark = [pytest.mark.root,
              pytest.mark.skipif(bool(_missing), reason=f"needs {', '.join(_missing)}")]


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[VirshLab]:
    with VirshLab(tmp_path_factory.mktemp("virsh"), nodes=2) as v:
        yield v


@pytest.fixture
def dom(lab: VirshLab) -> str:
    """The first domain, running at the start of each test."""
    name = lab.domains[0]
    if lab.init_pid(name) is None:
        lab.virsh("start", name)
    return name


def fence(lab: VirshLab, action: str, target: str | None = None, **kw: str) -> FenceResult:
    return run_fence_agent_sync("fence_virsh", {**lab.fence_params(), **kw}, action, target,
                                timeout=60, host_arg="plug")


def gone(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] == "Z"


def test_list_names_every_domain(lab: VirshLab) -> None:
    r = fence(lab, "list")
    assert r.rc == 0, r
    listed = {line.split(",")[0] for line in r.stdout.splitlines()}
    assert set(lab.domains) <= listed


def test_status_off_status(lab: VirshLab, dom: str) -> None:
    r = fence(lab, "status", dom)
    assert r.rc == 0 and "Status: ON" in r.stdout, r
    pid = lab.init_pid(dom)
    assert pid is not None
    r = fence(lab, "off", dom)
    assert r.rc == 0, r
    assert lab.domstate(dom) == "shut off" and gone(pid)
    assert fence(lab, "status", dom).rc == 2
    # the other domain was not touched
    assert lab.domstate(lab.domains[1]) == "running"


def test_on_starts_the_domain(lab: VirshLab, dom: str) -> None:
    assert fence(lab, "off", dom).rc == 0
    r = fence(lab, "on", dom)
    assert r.rc == 0, r
    assert lab.domstate(dom) == "running"


def test_reboot_gives_a_new_init(lab: VirshLab, dom: str) -> None:
    before = lab.init_pid(dom)
    r = fence(lab, "reboot", dom)
    assert r.rc == 0, r
    after = lab.init_pid(dom)
    assert before is not None and after is not None and after != before and gone(before)


def test_a_key_the_host_does_not_accept_fails(lab: VirshLab, dom: str, tmp_path: Path) -> None:
    key = tmp_path / "stranger"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    r = fence(lab, "off", dom, identity_file=str(key), login_timeout="5")
    assert r.rc != 0, r
    assert lab.domstate(dom) == "running"


def test_fencer_reboots_a_domain_named_by_pcmk_host_map(lab: VirshLab, dom: str) -> None:
    """Through the fencer core: one fence_virsh device for both domains, nodes mapped to
    domains by pcmk_host_map; a reboot of node1 restarts only its domain."""
    other = lab.domains[1]
    host = FencerHost(device_cib({"fence-virsh": ("fence_virsh", {
        **lab.fence_params(), "pcmk_host_map": f"node1:{dom};node2:{other}"})}))
    try:
        before, other_pid = lab.init_pid(dom), lab.init_pid(other)
        reply = host.fence("node1", "reboot")
        assert reply["ok"], reply
        after = lab.init_pid(dom)
        assert before is not None and after is not None and after != before
        assert lab.init_pid(other) == other_pid
    finally:
        host.close()
