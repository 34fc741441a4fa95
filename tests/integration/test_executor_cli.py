"""``ha resource`` against real agents: listing, describing, and crm_resource-style
``op`` with a CIB file, whose exit code is the agent's OCF rc."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

OCF_DIR = Path("/usr/lib/ocf/resource.d")
DATA = Path(__file__).resolve().parents[1] / "data" / "agents"
pytestmark = pytest.mark.skipif(not (OCF_DIR / "heartbeat" / "Dummy").exists(),
                                reason="Debian's resource-agents is not installed")

CIB = """<cib crm_feature_set="3.17.4" validate-with="pacemaker-3.9" epoch="1" num_updates="0"
 admin_epoch="0"><configuration><crm_config/><nodes/><resources>
 <primitive id="d1" class="ocf" provider="heartbeat" type="Dummy">
  <instance_attributes id="d1-ia"><nvpair id="d1-s" name="state" value="{state}"/></instance_attributes>
  <operations><op id="d1-mon" name="monitor" interval="10s" timeout="7s"/></operations>
 </primitive></resources><constraints/></configuration><status/></cib>"""


def ha(*args: str, socket: str | None = None) -> subprocess.CompletedProcess[str]:
    env_socket = ["--socket", socket] if socket else []
    env = {**os.environ, "HASTACK_OCF_RA_PATH": str(DATA / "ocf")}
    return subprocess.run([sys.executable, "-m", "ha.cli.main", *args, *env_socket],
                          capture_output=True, text=True, timeout=120, env=env)


def test_agents_lists_standards_providers_and_agents() -> None:
    assert ha("resource", "agents").stdout.split() == ["ocf", "lsb"]
    assert "heartbeat" in ha("resource", "agents", "--providers").stdout.split()
    listed = json.loads(ha("resource", "agents", "ocf:heartbeat", "--output-as=json").stdout)
    assert "ocf:heartbeat:Dummy" in listed and "ocf:heartbeat:IPaddr2" in listed
    assert ha("resource", "agents", "systemd").returncode == 2


def test_describe_dummy() -> None:
    text = ha("resource", "describe", "ocf:heartbeat:Dummy")
    assert text.returncode == 0 and "state" in text.stdout and "monitor" in text.stdout
    md = json.loads(ha("resource", "describe", "ocf:heartbeat:Dummy",
                       "--output-as=json").stdout)
    assert {p["name"] for p in md["parameters"]} >= {"state", "fake"}
    start = next(a for a in md["actions"] if a["name"] == "start")
    assert start["timeout_ms"] == 20_000
    missing = ha("resource", "describe", "ocf:heartbeat:NoSuchAgent")
    assert missing.returncode == 5 and "not found" in missing.stderr


def test_op_from_a_cib_file_exit_code_is_the_ocf_rc(tmp_path: Path) -> None:
    cib = tmp_path / "cib.xml"
    cib.write_text(CIB.format(state=tmp_path / "d1.state"))
    check = ha("resource", "op", "d1", "force-check", "-x", str(cib))
    assert check.returncode == 7 and "returned 7 (not running)" in check.stdout
    assert ha("resource", "op", "d1", "force-start", "-x", str(cib)).returncode == 0
    res = json.loads(ha("resource", "op", "d1", "monitor", "-x", str(cib),
                        "--output-as=json").stdout)
    assert (res["rc"], res["timeout_ms"]) == (0, 7000)     # the probe takes the op's timeout
    assert ha("resource", "op", "d1", "force-stop", "-x", str(cib)).returncode == 0
    assert ha("resource", "op", "nope", "start", "-x", str(cib)).returncode == 105
    assert ha("resource", "op", "d1", "frobnicate", "-x", str(cib)).returncode == 2


def test_op_without_a_daemon_says_so(tmp_path: Path) -> None:
    out = ha("resource", "op", "d1", "start", socket=str(tmp_path / "none.sock"))
    assert out.returncode == 102 and "-x FILE" in out.stderr


def test_op_timeout_reports_timed_out(tmp_path: Path) -> None:
    # the project's agent that hangs ignoring SIGTERM, found along HASTACK_OCF_RA_PATH
    out = ha("resource", "op", "slow", "start", "--agent", "ocf:hastack:Stubborn",
             "--param", f"pidfile={tmp_path / 'pids'}", "--timeout", "1s")
    assert out.returncode == 1 and "could not be executed (Timed Out" in out.stderr
    assert "hanging in start" in out.stdout             # its output, captured to the end


def test_op_reads_the_live_cib_of_the_local_daemon(tmp_path: Path) -> None:
    from harness.realcluster import HastackCluster

    state = tmp_path / "live.state"
    primitive = (f'<primitive id="live" class="ocf" provider="heartbeat" type="Dummy">'
                 f'<instance_attributes id="live-ia"><nvpair id="live-s" name="state" '
                 f'value="{state}"/></instance_attributes></primitive>')
    with HastackCluster(1, str(tmp_path / "cluster"), token=300, token_coefficient=0) as c:
        c.start_converged()
        sock = c.path(1, "sock")
        created = ha("cib", "create", "-o", "resources", "--xml", primitive, socket=sock)
        assert created.returncode == 0, created.stderr
        start = ha("resource", "op", "live", "force-start", socket=sock)
        assert start.returncode == 0, start.stderr
        assert state.exists()
        assert ha("resource", "op", "live", "force-check", socket=sock).returncode == 0
        assert ha("resource", "op", "live", "force-stop", socket=sock).returncode == 0
        assert not state.exists()
        assert ha("resource", "op", "gone", "start", socket=sock).returncode == 105
