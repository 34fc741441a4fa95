"""The fence-agent runner against Debian's real fence agents: fence_dummy (type=file and
type=fail) for the stdin protocol and the actions, and the metadata of fence_dummy,
fence_ipmilan, fence_docker and fence_virsh parsed as the fencer reads it."""

from __future__ import annotations

import os
import random
from pathlib import Path

import pytest
from lxml import etree

from ha.fencing import events as ev
from ha.fencing.agent import host_argument, judge, parse_metadata
from ha.fencing.fencer import Fencer
from ha.runtime.fence_runner import agent_path, installed_agents, run_fence_agent_sync

pytestmark = pytest.mark.skipif(agent_path("fence_dummy") is None,
                                reason="fence_dummy not installed (Debian package fence-agents)")


def run(params: dict[str, str], action: str, target: str | None = "node1", timeout: float = 20,
        host_arg: str | None = None):  # type: ignore[no-untyped-def]
    return run_fence_agent_sync("fence_dummy", params, action, target, timeout=timeout,
                                host_arg=host_arg)


def test_type_file_off_on_reboot_status_monitor(tmp_path: Path) -> None:
    st = tmp_path / "power"
    p = {"type": "file", "status_file": str(st)}
    assert run(p, "on").rc == 0 and st.read_text() == "on"
    status = run(p, "status")
    assert status.rc == 0 and "Status: ON" in status.stdout and judge("status", 0, False)[0]
    assert run(p, "off").rc == 0 and st.read_text() == "off"
    status = run(p, "status")
    assert status.rc == 2 and judge("status", status.rc, False) == (True, "off")
    assert run(p, "reboot").rc == 0 and st.read_text() == "on"      # off, then on again
    assert run(p, "monitor", None).rc == 0


def test_list_is_not_supported_by_fence_dummy() -> None:
    r = run({"type": "file"}, "list", None)
    assert r.rc != 0 and "Unrecognised action 'list'" in r.stderr


def test_type_fail_fails_off_and_on() -> None:
    p = {"type": "fail", "power_timeout": "1"}
    off = run(p, "off")
    assert off.rc == 1 and not off.timed_out and "Timed out waiting to power OFF" in off.stderr
    assert run(p, "on").rc == 1
    assert judge("off", off.rc, off.timed_out) == (False, "agent exited with status 1")


def test_pcmk_options_never_reach_the_agent_other_options_do(tmp_path: Path) -> None:
    # fence_dummy warns about each stdin option it does not know: a pcmk_* option
    # would show up here; the host argument (fence_dummy has no plug) does
    p = {"status_file": str(tmp_path / "s"), "pcmk_host_list": "node1", "pcmk_off_retries": "3"}
    r = run(p, "status", host_arg="plug")
    assert "pcmk_" not in r.stderr
    assert "Ignoring unknown option 'plug=node1'" in r.stderr


def test_timeout_kills_the_agent(tmp_path: Path) -> None:
    # delay=30: fence_dummy waits 30 s before acting
    r = run({"status_file": str(tmp_path / "s"), "delay": "30"}, "off", timeout=0.5)
    assert r.timed_out and r.rc == -1
    assert not (tmp_path / "s").exists()                 # it never got to act


def test_metadata_of_real_agents() -> None:
    want = {"fence_dummy": (None, {"status_file", "type"}),
            "fence_ipmilan": ("plug", {"ip", "username", "lanplus", "cipher"}),
            "fence_docker": ("plug", {"ip", "api_version", "ssl"}),
            "fence_virsh": ("plug", {"ip", "username", "identity_file"})}
    installed = set(installed_agents())
    assert "fence_dummy" in installed
    for agent, (host_arg, params) in want.items():
        if agent not in installed:
            continue
        r = run_fence_agent_sync(agent, {}, "metadata", timeout=20)
        assert r.rc == 0, (agent, r.stderr)
        md = parse_metadata(r.stdout)
        assert md.name == agent
        assert host_argument(None, md) == host_arg, agent
        assert params <= {p.name for p in md.parameters}, agent
        assert {"on", "off", "reboot", "status", "monitor", "metadata"} <= set(md.actions)
    docker = parse_metadata(run_fence_agent_sync("fence_docker", {}, "metadata",
                                                 timeout=20).stdout)
    assert docker.supports("list")


def test_fencer_core_with_the_real_agent(tmp_path: Path) -> None:
    """The core's RunAgent effects carried out by the real runner, in order."""
    st = tmp_path / "power"
    st.write_text("on")
    cib = etree.fromstring(
        '<cib><configuration><crm_config/><nodes/><resources>'
        '<primitive id="fd" class="stonith" type="fence_dummy"><instance_attributes id="i">'
        f'<nvpair id="i1" name="status_file" value="{st}"/>'
        '<nvpair id="i2" name="pcmk_host_check" value="status"/>'
        '</instance_attributes></primitive></resources></configuration><status/></cib>')
    f = Fencer(1, {1: "n1", 2: "n2"}, random.Random(1))
    f.step(ev.ConfigChanged(0.0, cib))
    f.step(ev.MembershipChanged(0.0, (1, 2)))
    queue = list(f.step(ev.FenceRequest(0.0, "c", "n2", "off")))
    replies = []
    while queue:
        e = queue.pop(0)
        if isinstance(e, ev.SendGroup):
            queue += f.step(ev.GroupDelivered(1.0, 1, e.payload))
        elif isinstance(e, ev.RunAgent):
            r = run_fence_agent_sync(e.agent, e.params, e.action, e.target, timeout=e.timeout_s,
                                     host_arg=e.host_arg)
            queue += f.step(ev.AgentFinished(2.0, e.call_id, r.rc, r.stdout, r.stderr,
                                             r.timed_out))
        elif isinstance(e, ev.ReplyClient):
            replies.append(e.reply)
    assert replies and replies[0]["ok"], replies
    assert st.read_text() == "off"


def _running(marker: str) -> bool:
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                with open(f"/proc/{pid}/cmdline", "rb") as fh:
                    if marker.encode() in fh.read():
                        return True
            except OSError:
                continue
    return False


def test_timeout_kills_the_agents_whole_process_group(tmp_path: Path) -> None:
    # an agent that leaves a child behind (as fence_ipmilan leaves ipmitool)
    marker = f"{random.randrange(10**6)}.{os.getpid()}"
    agent = tmp_path / "fence_stuck"
    agent.write_text(f"#!/bin/sh\ncat >/dev/null\nsleep 3{marker} &\nsleep 3{marker}\n")
    agent.chmod(0o755)
    r = run_fence_agent_sync(str(agent), {}, "off", "node1", timeout=0.5)
    assert r.timed_out and r.rc == -1
    assert not _running(f"sleep 3{marker}".replace(" ", "\0"))
