"""fence_ipmilan (Debian's fence-agents) through the project's fence runner against a
virtual BMC (OpenIPMI's ipmi_sim, harness.bmc) whose chassis power really kills and
starts a process — or, marked docker, a container.

Device parameters as the issue prescribes: lanplus=1 with cipher=3, power_wait=0, and
pcmk_host_list naming the one node the BMC powers (it is a fencer option: never passed
to the agent, which ignores plug anyway).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from ha.runtime.fence_runner import FenceResult, run_fence_agent_sync
from harness.bmc import ContainerNode, ProcessNode, VirtualBMC
from harness.fencer_host import FencerHost
from harness.realcluster import HastackCluster
from harness.sleeper_image import ImageUnavailable, sleeper_image

_missing = [p for p in ("ipmi_sim", "ipmitool") if shutil.which(p) is None]
if not os.access("/usr/sbin/fence_ipmilan", os.X_OK) and shutil.which("fence_ipmilan") is None:
    _missing.append("fence_ipmilan")
pytestmark = pytest.mark.skipif(
    bool(_missing), reason=f"needs {', '.join(_missing)} (Debian: openipmi ipmitool fence-agents)")

NODE = "node1"


def fence(bmc: VirtualBMC, action: str, **overrides: str) -> FenceResult:
    params = {**bmc.fence_params(), "pcmk_host_list": NODE, **overrides}
    return run_fence_agent_sync("fence_ipmilan", params, action, NODE, timeout=60,
                                host_arg="plug")


def alive(pid: int) -> bool:
    """The process exists and is not a zombie (a killed orphan may linger as one)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


@pytest.fixture
def bmc(tmp_path: Path) -> Iterator[VirtualBMC]:
    with VirtualBMC(tmp_path / "bmc", ProcessNode(("sleep", "1000000")), name=NODE) as b:
        yield b


def test_status_reports_a_running_node_on(bmc: VirtualBMC) -> None:
    r = fence(bmc, "status")
    assert (r.rc, r.timed_out) == (0, False), r
    assert "Status: ON" in r.stdout
    assert bmc.power_log() == []          # a status changes nothing


def test_off_kills_the_node_process(bmc: VirtualBMC) -> None:
    pid = bmc.node_pid()
    assert pid is not None and alive(pid)
    r = fence(bmc, "off")
    assert r.rc == 0, r
    assert not alive(pid)
    assert bmc.power_log() == ["set power 0"]
    status = fence(bmc, "status")
    assert status.rc == 2 and "Status: OFF" in status.stdout, status


def test_on_starts_the_node_again(bmc: VirtualBMC) -> None:
    assert fence(bmc, "off").rc == 0
    assert bmc.node_pid() is None
    r = fence(bmc, "on")
    assert r.rc == 0, r
    pid = bmc.node_pid()
    assert pid is not None and alive(pid)
    assert len(bmc.boots()) == 2          # booted at start, and again now
    assert fence(bmc, "status").rc == 0


def test_reboot_replaces_the_node_process(bmc: VirtualBMC) -> None:
    before = bmc.node_pid()
    assert before is not None
    r = fence(bmc, "reboot")
    assert r.rc == 0, r
    after = bmc.node_pid()
    assert after is not None and after != before
    assert not alive(before) and alive(after)
    assert bmc.power_log() == ["set power 0", "set power 1"]


def test_method_cycle_goes_through_the_bmcs_own_power_cycle(bmc: VirtualBMC) -> None:
    """method=cycle sends Chassis Control "power cycle": ipmi_sim powers off at once
    and on again from its own one-second timer, after the agent has returned."""
    before = bmc.node_pid()
    r = fence(bmc, "reboot", method="cycle")
    assert r.rc == 0, r
    deadline = time.monotonic() + 15
    while len(bmc.boots()) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert bmc.power_log() == ["set power 0", "set power 1"]
    after = bmc.node_pid()
    assert before is not None and after is not None and after != before and not alive(before)


def test_off_of_a_node_already_off_succeeds_without_power_request(bmc: VirtualBMC) -> None:
    assert fence(bmc, "off").rc == 0
    r = fence(bmc, "off")
    assert r.rc == 0, r
    assert bmc.power_log() == ["set power 0"]


def test_wrong_password_fails_and_leaves_the_node_alone(bmc: VirtualBMC) -> None:
    pid = bmc.node_pid()
    r = fence(bmc, "off", password="not-the-password")
    assert r.rc not in (0, 2) and not r.timed_out, r
    assert "Failed" in r.stderr or "Unable" in r.stderr, r.stderr
    assert bmc.node_pid() == pid and bmc.power_log() == []


def test_status_follows_a_node_that_died_by_itself(bmc: VirtualBMC) -> None:
    pid = bmc.node_pid()
    assert pid is not None
    os.kill(pid, 9)                       # the node crashes; the BMC was not asked
    r = fence(bmc, "status")
    assert r.rc == 2 and "Status: OFF" in r.stdout, r
    assert fence(bmc, "on").rc == 0 and bmc.node_pid() not in (None, pid)


def test_a_silent_bmc_times_out_and_the_agent_group_is_killed(bmc: VirtualBMC) -> None:
    bmc.stop()                            # nothing answers on the port any more
    params = {**bmc.fence_params(), "pcmk_host_list": NODE}
    r = run_fence_agent_sync("fence_ipmilan", params, "off", NODE, timeout=3, host_arg="plug")
    assert r.timed_out and r.rc == -1, r
    # neither the agent nor the ipmitool it started outlives the timeout
    left = subprocess.run(["pgrep", "-f", "--", f"-p {bmc.port} "], capture_output=True,
                          text=True)
    assert left.returncode == 1, left.stdout       # 1: no process matched (2 would be an error)


def test_pcmk_options_do_not_reach_the_agent(bmc: VirtualBMC) -> None:
    # fence_ipmilan refuses options it does not know; pcmk_host_list and pcmk_off_timeout
    # would make it fail if the runner passed them on.
    r = fence(bmc, "status", pcmk_off_timeout="30", pcmk_host_check="static-list")
    assert r.rc == 0, r


# ---- the node is a Docker container ------------------------------------------------

def _docker_ok() -> str | None:
    try:
        sleeper_image()
    except ImageUnavailable as e:
        return str(e)
    except (OSError, subprocess.SubprocessError) as e:
        return f"docker: {e}"
    return None


def _running(name: str) -> bool:
    r = subprocess.run(["docker", "inspect", "-f", "{{.State.Running}}", name],
                       capture_output=True, text=True)
    return r.stdout.strip() == "true"


@pytest.fixture
def container_bmc(tmp_path: Path) -> Iterator[tuple[VirtualBMC, str]]:
    why = _docker_ok()
    if why:
        pytest.skip(f"no container to fence: {why}")
    image, cmd = sleeper_image()
    name = f"hastack-fence-ipmi-{uuid.uuid4().hex[:8]}"
    subprocess.run(["docker", "run", "-d", "--name", name, "--label", "hastack.test=fencing",
                    image, *cmd], check=True, capture_output=True)
    try:
        with VirtualBMC(tmp_path / "bmc", ContainerNode(name), name=NODE) as b:
            yield b, name
    finally:
        subprocess.run(["docker", "rm", "-f", name], capture_output=True)


@pytest.mark.docker
def test_bmc_powers_a_container_off_on_and_reboots_it(
        container_bmc: tuple[VirtualBMC, str]) -> None:
    bmc, name = container_bmc
    assert fence(bmc, "status").rc == 0 and _running(name)
    r = fence(bmc, "off")
    assert r.rc == 0, r
    assert not _running(name)
    assert fence(bmc, "status").rc == 2
    r = fence(bmc, "on")
    assert r.rc == 0, r
    assert _running(name)
    started = subprocess.run(["docker", "inspect", "-f", "{{.State.StartedAt}}", name],
                             capture_output=True, text=True).stdout
    r = fence(bmc, "reboot")
    assert r.rc == 0, r
    assert _running(name)
    assert subprocess.run(["docker", "inspect", "-f", "{{.State.StartedAt}}", name],
                          capture_output=True, text=True).stdout != started
    assert bmc.power_log() == ["set power 0", "set power 1", "set power 0", "set power 1"]


# ---- through the fencer core: a device in a CIB, a fence request, the result --------

@pytest.fixture
def fencer_host(bmc: VirtualBMC) -> Iterator[FencerHost]:
    host = FencerHost.for_device(NODE, "fence_ipmilan", bmc.fence_params())
    yield host
    host.close()


def test_fencer_reboots_the_node_through_its_bmc(bmc: VirtualBMC, fencer_host: FencerHost) -> None:
    before = bmc.node_pid()
    reply = fencer_host.fence(NODE, "reboot")
    assert reply["ok"] and reply["exit"] == 0, reply
    assert reply["op"]["state"] == "done" and reply["op"]["devices"] == [f"fence-{NODE}"]
    after = bmc.node_pid()
    assert before is not None and after is not None and after != before and not alive(before)
    assert bmc.power_log() == ["set power 0", "set power 1"]
    # the agent got the node as plug (fence_ipmilan's host argument) and no pcmk_* option
    run = fencer_host.agent_runs[-1]
    assert (run.action, run.host_arg, run.params.get("plug")) == ("reboot", "plug", NODE)
    assert not any(k.startswith("pcmk_") for k in run.params)


def test_fencer_off_then_on(bmc: VirtualBMC, fencer_host: FencerHost) -> None:
    pid = bmc.node_pid()
    assert fencer_host.fence(NODE, "off")["ok"]
    assert pid is not None and not alive(pid) and bmc.node_pid() is None
    assert fencer_host.fence(NODE, "on")["ok"]
    assert bmc.node_pid() is not None


def test_fencer_does_not_claim_a_node_outside_pcmk_host_list(
        bmc: VirtualBMC, fencer_host: FencerHost) -> None:
    pid = bmc.node_pid()
    reply = fencer_host.fence("node2", "off")
    assert not reply["ok"] and reply["exit"] == 105, reply        # no such device
    assert bmc.node_pid() == pid and bmc.power_log() == []


def test_fencer_reports_a_device_that_refuses_the_login(bmc: VirtualBMC) -> None:
    host = FencerHost.for_device(NODE, "fence_ipmilan",
                                 {**bmc.fence_params(), "password": "wrong"})
    try:
        pid = bmc.node_pid()
        reply = host.fence(NODE, "off")
        assert not reply["ok"] and reply["op"]["state"] == "failed", reply
        assert "failed" in reply["error"]
        assert bmc.node_pid() == pid and bmc.power_log() == []
    finally:
        host.close()


# ---- a live cluster: node3's daemon is the process its BMC powers --------------------

def _cli(c: HastackCluster, i: int, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "ha.cli.main", *args, "--socket",
                           c.path(i, "sock")], capture_output=True, text=True, timeout=120)


def _ipmi_device(rid: str, params: dict[str, str]) -> str:
    nvs = "".join(f'<nvpair id="{rid}-{k}" name="{k}" value="{v}"/>' for k, v in params.items())
    return (f'<primitive id="{rid}" class="stonith" type="fence_ipmilan">'
            f'<instance_attributes id="{rid}-ia">{nvs}</instance_attributes></primitive>')


def test_cluster_fences_a_node_daemon_through_its_bmc(tmp_path: Path) -> None:
    """Three node daemons on loopback; node3 runs only while its virtual BMC has power.
    ``ha stonith fence node3 --off`` on node1: the fencer runs fence_ipmilan, the BMC
    kills node3's daemon, the others see it leave; ``--on`` brings it back into the ring."""
    with HastackCluster(3, str(tmp_path / "cluster"), token=300, token_coefficient=0) as c, \
            VirtualBMC(tmp_path / "bmc3", ProcessNode(tuple(c.command(3))), name="node3") as bmc:
        c.start_node(1)
        c.start_node(2)
        c.wait_membership([1, 2], [1, 2, 3], 30)
        c.wait_cib_synced([1, 2])
        device = _ipmi_device("ipmi-node3", {**bmc.fence_params(), "pcmk_host_list": "node3"})
        r = _cli(c, 1, "cib", "create", "-o", "resources", "--xml", device)
        assert r.returncode == 0, r.stderr
        daemon3 = bmc.node_pid()
        assert daemon3 is not None

        r = _cli(c, 1, "stonith", "fence", "node3", "--off", "--output-as", "json")
        assert r.returncode == 0, r.stdout + r.stderr
        op = json.loads(r.stdout)["op"]
        assert (op["state"], op["devices"]) == ("done", ["ipmi-node3"])
        assert not alive(daemon3)
        c.wait_membership([1, 2], [1, 2], 30)

        r = _cli(c, 2, "stonith", "fence", "node3", "--on")
        assert r.returncode == 0, r.stdout + r.stderr
        c.wait_membership([1, 2], [1, 2, 3], 30)
        assert bmc.node_pid() not in (None, daemon3)
        assert bmc.power_log() == ["set power 0", "set power 1"]
        # a node outside every device's pcmk_host_list: no device claims it
        r = _cli(c, 1, "stonith", "fence", "node2", "--off")
        assert r.returncode == 105, r.stdout + r.stderr
