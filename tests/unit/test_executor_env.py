"""The OCF environment and command line of an action, as Pacemaker builds them."""

from __future__ import annotations

import pytest

from ha.executor import Executor, Request, ResourceAgent, RunAgent, TraceOptions
from ha.executor.agent import AgentError
from ha.executor.environment import clone_meta, notify_meta, ocf_environment

DUMMY = ResourceAgent.parse("ocf:heartbeat:Dummy")
LSB = ResourceAgent.parse("lsb:myservice")


def locate(agent: ResourceAgent) -> str:
    return f"/agents/{agent.relpath()}"


def run_effect(req: Request, **kw: object) -> RunAgent:
    ex = Executor(locate, **kw)  # type: ignore[arg-type]
    _, effects = ex.submit(req, 0.0)
    runs = [e for e in effects if isinstance(e, RunAgent)]
    assert len(runs) == 1
    return runs[0]


def test_ocf_basic_variables() -> None:
    run = run_effect(Request("web", DUMMY, "start", timeout_ms=30000,
                             params={"state": "/tmp/x", "fake": "1"}),
                     node="node1", node_uuid="1")
    assert run.argv == ("/agents/heartbeat/Dummy", "start")
    env = run.env
    assert env["OCF_ROOT"] == "/usr/lib/ocf"
    assert (env["OCF_RA_VERSION_MAJOR"], env["OCF_RA_VERSION_MINOR"]) == ("1", "1")
    assert env["OCF_EXIT_REASON_PREFIX"] == "ocf-exit-reason:"
    assert env["OCF_RESOURCE_INSTANCE"] == "web"
    assert env["OCF_RESOURCE_TYPE"] == "Dummy"
    assert env["OCF_RESOURCE_PROVIDER"] == "heartbeat"
    assert env["OCF_RESKEY_state"] == "/tmp/x"
    assert env["OCF_RESKEY_fake"] == "1"
    assert env["OCF_RESKEY_CRM_meta_timeout"] == "30000"
    assert env["OCF_RESKEY_CRM_meta_interval"] == "0"
    assert env["OCF_RESKEY_CRM_meta_name"] == "start"
    assert env["OCF_RESKEY_CRM_meta_on_node"] == "node1"
    assert env["OCF_RESKEY_CRM_meta_on_node_uuid"] == "1"


def test_recurring_monitor_interval_and_check_level() -> None:
    env = run_effect(Request("web", DUMMY, "monitor", interval_ms=10000,
                             params={"OCF_CHECK_LEVEL": "10"})).env
    assert env["OCF_RESKEY_CRM_meta_interval"] == "10000"
    assert env["OCF_RESKEY_CRM_meta_name"] == "monitor"
    assert env["OCF_CHECK_LEVEL"] == "10"
    assert "OCF_RESKEY_OCF_CHECK_LEVEL" not in env


def test_meta_attribute_dashes_become_underscores() -> None:
    env = run_effect(Request("web", DUMMY, "start", meta={"target-role": "Started"})).env
    assert env["OCF_RESKEY_CRM_meta_target_role"] == "Started"


def test_clone_keys() -> None:
    meta = clone_meta(instance=1, clone_max=3, clone_node_max=1, promotable=True,
                      promoted_max=1)
    env = run_effect(Request("st:1", DUMMY, "start", meta=meta)).env
    assert env["OCF_RESOURCE_INSTANCE"] == "st:1"
    assert env["OCF_RESKEY_CRM_meta_clone"] == "1"
    assert env["OCF_RESKEY_CRM_meta_clone_max"] == "3"
    assert env["OCF_RESKEY_CRM_meta_clone_node_max"] == "1"
    assert env["OCF_RESKEY_CRM_meta_globally_unique"] == "false"
    assert env["OCF_RESKEY_CRM_meta_promotable"] == "true"
    assert env["OCF_RESKEY_CRM_meta_promoted_max"] == "1"
    assert env["OCF_RESKEY_CRM_meta_master_max"] == "1"


def test_notify_keys() -> None:
    meta = notify_meta("pre", "start", {"start": [("st:1", "node2")],
                                         "active": [("st:0", "node1")],
                                         "promoted": [("st:0", "node1")]},
                       all_unames=["node1", "node2"], available_unames=["node1", "node2"])
    meta.update(clone_meta(instance=0, clone_max=2, notify=True))
    env = run_effect(Request("st:0", DUMMY, "notify", meta=meta)).env
    assert env["OCF_RESKEY_CRM_meta_notify_type"] == "pre"
    assert env["OCF_RESKEY_CRM_meta_notify_operation"] == "start"
    assert env["OCF_RESKEY_CRM_meta_notify_start_resource"] == "st:1"
    assert env["OCF_RESKEY_CRM_meta_notify_start_uname"] == "node2"
    assert env["OCF_RESKEY_CRM_meta_notify_active_uname"] == "node1"
    assert env["OCF_RESKEY_CRM_meta_notify_stop_resource"] == ""
    assert env["OCF_RESKEY_CRM_meta_notify_master_resource"] == "st:0"
    assert env["OCF_RESKEY_CRM_meta_notify_promoted_uname"] == "node1"
    assert env["OCF_RESKEY_CRM_meta_notify_all_uname"] == "node1 node2"
    assert env["OCF_RESKEY_CRM_meta_notify"] == "true"


def test_notify_without_its_keys_is_refused() -> None:
    ex = Executor(locate)
    with pytest.raises(ValueError, match="notify_type"):
        ex.submit(Request("st:0", DUMMY, "notify"), 0.0)


def test_notify_meta_refuses_unknown_type() -> None:
    with pytest.raises(ValueError, match="notify type"):
        notify_meta("during", "start")


def test_trace_ra() -> None:
    env = ocf_environment(DUMMY, "web", "start", params={}, meta={}, interval_ms=0,
                          timeout_ms=20000, trace=TraceOptions(True, trace_dir="/var/tr"))
    assert env["OCF_TRACE_RA"] == "1"
    assert env["OCF_RESKEY_trace_dir"] == "/var/tr"
    plain = ocf_environment(DUMMY, "web", "start", params={}, meta={}, interval_ms=0,
                            timeout_ms=20000)
    assert "OCF_TRACE_RA" not in plain


def test_lsb_monitor_runs_status_without_parameters() -> None:
    run = run_effect(Request("svc", LSB, "monitor", params={"ignored": "1"}))
    assert run.argv == ("/agents/myservice", "status")
    assert run.env == {}


@pytest.mark.parametrize("spec, problem", [
    ("ocf:Dummy", "needs a provider"), ("systemd:foo", "not supported"),
    ("lsb:x:y", "takes no provider"), ("ocf:heartbeat:../../bin/sh", "not a valid"),
    ("Dummy", "expected CLASS"),
])
def test_bad_agent_names_are_refused(spec: str, problem: str) -> None:
    with pytest.raises(AgentError, match=problem):
        ResourceAgent.parse(spec)


def test_unknown_action_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown action 'frobnicate'"):
        Executor(locate).submit(Request("web", DUMMY, "frobnicate"), 0.0)
    with pytest.raises(ValueError, match="unknown action 'promote'"):
        Executor(locate).submit(Request("svc", LSB, "promote"), 0.0)
