"""The executor core's scheduling: one action per resource, the node action limit,
recurring monitors with start-delay, cancellation, timeouts and their kills."""

from __future__ import annotations

from ha.executor import (
    ActionResult,
    AgentExited,
    AgentFailedToRun,
    CancelRecurring,
    ExecStatus,
    Executor,
    KillAgent,
    Request,
    ResourceAgent,
    RunAgent,
)
from ha.executor.events import Effect

DUMMY = ResourceAgent.parse("ocf:heartbeat:Dummy")


def locate(agent: ResourceAgent) -> str | None:
    return None if agent.type == "Missing" else f"/agents/{agent.relpath()}"


def runs(effects: list[Effect]) -> list[RunAgent]:
    return [e for e in effects if isinstance(e, RunAgent)]


def results(effects: list[Effect]) -> list[ActionResult]:
    return [e for e in effects if isinstance(e, ActionResult)]


def kills(effects: list[Effect]) -> list[KillAgent]:
    return [e for e in effects if isinstance(e, KillAgent)]


def req(rsc: str, action: str = "start", **kw: object) -> Request:
    return Request(rsc, DUMMY, action, **kw)  # type: ignore[arg-type]


def test_one_action_per_resource_at_a_time() -> None:
    ex = Executor(locate)
    c1, eff = ex.submit(req("a", "start"), 0.0)
    assert [r.call_id for r in runs(eff)] == [c1]
    c2, eff = ex.submit(req("a", "monitor"), 0.1)
    assert runs(eff) == []                      # waits for the start
    assert ex.queued("a") == [c2]
    eff = ex.step(AgentExited(c1, 0), 0.5)
    assert [r.call_id for r in results(eff)] == [c1]
    assert [r.call_id for r in runs(eff)] == [c2]


def test_other_resources_run_in_parallel_and_order_is_kept() -> None:
    ex = Executor(locate)
    a1, _ = ex.submit(req("a", "start"), 0.0)
    a2, _ = ex.submit(req("a", "monitor"), 0.0)
    b1, eff = ex.submit(req("b", "start"), 0.0)
    assert [r.call_id for r in runs(eff)] == [b1]   # b is not held up behind a
    a3, _ = ex.submit(req("a", "stop"), 0.0)
    eff = ex.step(AgentExited(a1, 0), 1.0)
    assert [r.call_id for r in runs(eff)] == [a2]   # a's monitor before a's stop
    eff = ex.step(AgentExited(a2, 0), 2.0)
    assert [r.call_id for r in runs(eff)] == [a3]


def test_node_action_limit() -> None:
    ex = Executor(locate, action_limit=2)
    calls = [ex.submit(req(f"r{i}"), 0.0) for i in range(4)]
    started = [r.call_id for _, eff in calls for r in runs(eff)]
    assert started == [calls[0][0], calls[1][0]]
    assert len(ex.running) == 2
    eff = ex.step(AgentExited(calls[1][0], 0), 1.0)
    assert [r.call_id for r in runs(eff)] == [calls[2][0]]
    assert len(ex.running) == 2


def test_limit_does_not_count_agents_that_are_not_installed() -> None:
    ex = Executor(locate, action_limit=1)
    _, eff = ex.submit(Request("m", ResourceAgent.parse("ocf:x:Missing"), "start"), 0.0)
    (res,) = results(eff)
    assert (res.rc, res.status) == (5, ExecStatus.NOT_INSTALLED)
    _, eff = ex.submit(req("a"), 0.0)
    assert len(runs(eff)) == 1


def test_start_delay_holds_the_first_run() -> None:
    ex = Executor(locate)
    c, eff = ex.submit(req("a", "monitor", interval_ms=10_000, start_delay_ms=5_000), 100.0)
    assert runs(eff) == []
    assert ex.next_deadline() == 105.0
    assert runs(ex.tick(104.9)) == []
    assert [r.call_id for r in runs(ex.tick(105.0))] == [c]


def test_recurring_monitor_reruns_interval_after_each_result() -> None:
    ex = Executor(locate)
    c1, eff = ex.submit(req("a", "monitor", interval_ms=10_000), 0.0)
    assert len(runs(eff)) == 1
    (res,) = results(ex.step(AgentExited(c1, 0), 1.0))
    assert res.rc == 0 and res.rc_changed
    assert ex.next_deadline() == 11.0
    assert runs(ex.tick(10.0)) == []
    (run2,) = runs(ex.tick(11.0))
    assert run2.env["OCF_RESKEY_CRM_meta_interval"] == "10000"
    (res2,) = results(ex.step(AgentExited(run2.call_id, 0), 11.5))
    assert not res2.rc_changed
    (run3,) = runs(ex.tick(21.5))
    (res3,) = results(ex.step(AgentExited(run3.call_id, 7), 22.0))
    assert res3.rc == 7 and res3.rc_changed


def test_stop_cancels_recurring_monitors_of_its_resource_only() -> None:
    ex = Executor(locate)
    ca, _ = ex.submit(req("a", "monitor", interval_ms=10_000), 0.0)
    cb, _ = ex.submit(req("b", "monitor", interval_ms=10_000), 0.0)
    ex.step(AgentExited(ca, 0), 1.0)
    ex.step(AgentExited(cb, 0), 1.0)
    _, eff = ex.submit(req("a", "stop"), 2.0)
    cancelled = [r for r in results(eff) if r.status == ExecStatus.CANCELLED]
    assert [(r.rsc_id, r.interval_ms) for r in cancelled] == [("a", 10_000)]
    assert [r.rsc_id for r in ex.recurring()] == ["b"]
    assert len(runs(eff)) == 1                  # the stop itself runs


def test_stop_waits_for_a_running_monitor_which_is_reported_cancelled() -> None:
    ex = Executor(locate)
    cm, _ = ex.submit(req("a", "monitor", interval_ms=10_000), 0.0)
    cs, eff = ex.submit(req("a", "stop"), 0.5)
    assert runs(eff) == []                      # never two actions on one resource
    eff = ex.step(AgentExited(cm, 0), 1.0)
    (res,) = results(eff)
    assert (res.call_id, res.status) == (cm, ExecStatus.CANCELLED)
    assert [r.call_id for r in runs(eff)] == [cs]
    assert ex.next_deadline() is not None       # the stop's timeout, no monitor due
    ex.step(AgentExited(cs, 0), 2.0)
    assert ex.next_deadline() is None


def test_cancel_recurring() -> None:
    ex = Executor(locate)
    c, _ = ex.submit(req("a", "monitor", interval_ms=5_000), 0.0)
    ex.step(AgentExited(c, 0), 1.0)
    (res,) = results(ex.step(CancelRecurring("a", "monitor", 5_000), 2.0))
    assert res.status == ExecStatus.CANCELLED
    assert ex.recurring() == [] and ex.next_deadline() is None


def test_timeout_terms_then_kills_the_group_and_reports_timed_out() -> None:
    ex = Executor(locate, kill_grace_ms=1000)
    c, _ = ex.submit(req("a", "start", timeout_ms=2000), 0.0)
    assert ex.next_deadline() == 2.0
    assert kills(ex.tick(1.9)) == []
    assert kills(ex.tick(2.0)) == [KillAgent(c, "SIGTERM")]
    # the agent dies of the SIGTERM; its group still gets the SIGKILL before the report
    assert results(ex.step(AgentExited(c, -15, "out", "err"), 2.1)) == []
    eff = ex.tick(3.0)
    assert kills(eff) == [KillAgent(c, "SIGKILL")]
    (res,) = results(eff)
    assert (res.rc, res.status, res.status_name) == (1, ExecStatus.TIMEOUT, "Timed Out")
    assert res.stdout == "out" and "timed out" in res.exit_reason


def test_timeout_of_an_agent_ignoring_sigterm() -> None:
    ex = Executor(locate, kill_grace_ms=500)
    c, _ = ex.submit(req("a", "start", timeout_ms=1000), 0.0)
    ex.tick(1.0)
    eff = ex.tick(1.5)
    assert kills(eff) == [KillAgent(c, "SIGKILL")] and results(eff) == []
    (res,) = results(ex.step(AgentExited(c, -9), 1.6))
    assert res.status == ExecStatus.TIMEOUT


def test_timed_out_resource_takes_its_next_action_only_after_the_report() -> None:
    ex = Executor(locate, kill_grace_ms=500)
    c1, _ = ex.submit(req("a", "start", timeout_ms=1000), 0.0)
    c2, _ = ex.submit(req("a", "stop"), 0.0)
    ex.tick(1.0)
    ex.step(AgentExited(c1, -15), 1.1)
    eff = ex.tick(1.5)
    assert [r.call_id for r in runs(eff)] == [c2]


def test_exit_reason_signal_and_failed_exec() -> None:
    ex = Executor(locate)
    c, _ = ex.submit(req("a"), 0.0)
    (res,) = results(ex.step(AgentExited(c, 6, "", "x\nocf-exit-reason:no config here\n"), 1.0))
    assert (res.rc, res.rc_name, res.exit_reason) == (6, "not configured", "no config here")
    c, _ = ex.submit(req("b"), 0.0)
    (res,) = results(ex.step(AgentExited(c, -11), 1.0))
    assert (res.rc, res.status) == (1, ExecStatus.ERROR)
    c, _ = ex.submit(req("c"), 0.0)
    (res,) = results(ex.step(AgentFailedToRun(c, "exec format error"), 1.0))
    assert (res.rc, res.status) == (1, ExecStatus.ERROR)
    c, _ = ex.submit(req("d"), 0.0)
    (res,) = results(ex.step(AgentExited(c, 42), 1.0))
    assert res.rc == 1                          # out-of-range codes are generic errors


def test_lsb_status_codes_are_mapped() -> None:
    ex = Executor(locate)
    lsb = ResourceAgent.parse("lsb:svc")
    c, _ = ex.submit(Request("svc", lsb, "monitor"), 0.0)
    (res,) = results(ex.step(AgentExited(c, 3), 1.0))
    assert res.rc == 7
    c, _ = ex.submit(Request("svc", lsb, "start"), 2.0)
    (res,) = results(ex.step(AgentExited(c, 3), 3.0))
    assert res.rc == 3                          # start: LSB and OCF share 0-7


def test_stray_exit_is_traced_not_raised() -> None:
    eff = Executor(locate).step(AgentExited(99, 0), 0.0)
    assert results(eff) == [] and eff[0].event == "executor_stray_exit"  # type: ignore[union-attr]


def test_result_trace_carries_the_agent_output() -> None:
    ex = Executor(locate)
    c, _ = ex.submit(req("a"), 0.0)
    eff = ex.step(AgentExited(c, 0, "out line\n", "err line\n" + "x" * 10_000), 1.0)
    (trace,) = [e for e in eff if getattr(e, "event", "") == "executor_result"]
    fields = trace.fields  # type: ignore[union-attr]
    assert fields["stdout"] == "out line\n" and fields["rc_name"] == "ok"
    assert fields["stderr"].endswith("x") and len(fields["stderr"]) == 4096
    (res,) = results(eff)
    assert res.stderr.startswith("err line")        # the result keeps all of it
