"""The fencer core driven in memory: several nodes, group ``fencer`` in agreed order,
agents answered by a script, timers on a virtual clock."""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

import pytest
from lxml import etree

from ha.fencing import events as ev
from ha.fencing.fencer import Fencer

METADATA = ('<resource-agent name="fence_t"><parameters><parameter name="plug">'
            '<content type="string"/></parameter></parameters><actions><action name="on"/>'
            '<action name="off"/><action name="reboot"/><action name="status"/>'
            '<action name="list"/></actions></resource-agent>')

Agent = Callable[[ev.RunAgent], "tuple[int, str] | str"]


def prim(rid: str, **attrs: str) -> str:
    nvs = "".join(f'<nvpair id="{rid}-{k}" name="{k}" value="{v}"/>' for k, v in attrs.items())
    return (f'<primitive id="{rid}" class="stonith" type="fence_t">'
            f'<instance_attributes id="{rid}-ia">{nvs}</instance_attributes></primitive>')


def cib(resources: str, topology: str = "", props: str = "") -> etree._Element:
    return etree.fromstring(
        f'<cib><configuration><crm_config><cluster_property_set id="o">{props}'
        f'</cluster_property_set></crm_config><nodes/><resources>{resources}</resources>'
        f'<fencing-topology>{topology}</fencing-topology></configuration><status/></cib>')


def ok_agent(run: ev.RunAgent) -> tuple[int, str] | str:
    return (0, METADATA) if run.action == "metadata" else (0, "")


class World:
    """n fencers; ``agent`` answers each RunAgent with rc, or "timeout"."""

    def __init__(self, n: int, root: etree._Element, agent: Agent = ok_agent,
                 members: tuple[int, ...] | None = None, seed: int = 1) -> None:
        names = {i: f"n{i}" for i in range(1, n + 1)}
        self.f = {i: Fencer(i, names, random.Random(seed + i)) for i in names}
        self.agent = agent
        self.now = 1000.0
        self.queue: list[tuple[int, bytes]] = []
        self.timers: dict[tuple[int, str], float] = {}
        self.pending: list[tuple[int, ev.RunAgent]] = []
        self.runs: list[tuple[int, ev.RunAgent]] = []
        self.replies: dict[str, dict[str, Any]] = {}
        self.effects: list[tuple[int, Any]] = []
        self.members = members or tuple(names)
        self.clients = 0
        for i, f in self.f.items():
            self.apply(i, f.step(ev.ConfigChanged(self.now, root)))
            if i in self.members:
                self.apply(i, f.step(ev.MembershipChanged(self.now, self.members)))

    def apply(self, i: int, effects: list[Any]) -> None:
        for e in effects:
            self.effects.append((i, e))
            if isinstance(e, ev.SendGroup):
                self.queue.append((i, e.payload))
            elif isinstance(e, ev.SetTimer):
                self.timers[(i, e.timer_id)] = e.at
            elif isinstance(e, ev.CancelTimer):
                self.timers.pop((i, e.timer_id), None)
            elif isinstance(e, ev.RunAgent):
                self.pending.append((i, e))
            elif isinstance(e, ev.ReplyClient):
                self.replies[e.client_id] = e.reply

    def request(self, i: int, target: str, action: str = "reboot", client: str | None = None) -> str:
        self.clients += 1
        cid = client or f"c{i}-{self.clients}"
        self.apply(i, self.f[i].step(ev.FenceRequest(self.now, cid, target, action)))
        return cid

    def deliver(self) -> None:
        while self.queue:
            sender, payload = self.queue.pop(0)
            for i in self.members:
                self.apply(i, self.f[i].step(ev.GroupDelivered(self.now, sender, payload)))

    def settle(self, runs: bool = True) -> None:
        while self.queue or (runs and self.pending):
            self.deliver()
            if runs and self.pending:
                i, run = self.pending.pop(0)
                if run.action != "metadata":
                    self.runs.append((i, run))
                answer = self.agent(run)
                timed_out = answer == "timeout"
                rc, out = (-1, "") if timed_out else (answer if isinstance(answer, tuple) else (0, answer))
                self.apply(i, self.f[i].step(ev.AgentFinished(self.now, run.call_id, rc, out, "",
                                                              timed_out)))

    def answer_metadata(self) -> None:
        """Deliver, then answer metadata queries only (fence runs stay pending)."""
        self.deliver()
        while any(r.action == "metadata" for _, r in self.pending):
            k = next(n for n, (_, r) in enumerate(self.pending) if r.action == "metadata")
            i, run = self.pending.pop(k)
            self.apply(i, self.f[i].step(ev.AgentFinished(self.now, run.call_id, 0, METADATA)))
            self.deliver()

    def advance(self, seconds: float) -> None:
        end = self.now + seconds
        while True:
            due = sorted((at, k) for k, at in self.timers.items() if at <= end)
            if not due:
                break
            at, (i, tid) = due[0]
            del self.timers[(i, tid)]
            self.now = max(self.now, at)
            self.apply(i, self.f[i].step(ev.TimerFired(self.now, tid)))
            self.settle()
        self.now = end

    def fence_runs(self) -> list[tuple[int, str, str]]:
        return [(i, r.device, r.action) for i, r in self.runs if r.action not in ("list", "status")]

    def history(self, i: int) -> list[dict[str, Any]]:
        return [o.as_json() for o in self.f[i].history.ordered()]


def test_fence_runs_device_with_host_map_and_history_is_shared() -> None:
    w = World(3, cib(prim("d1", pcmk_host_map="n3:outlet3", ip="10.1.1.1")))
    cid = w.request(1, "n3")
    w.settle()
    assert w.replies[cid]["ok"] and w.replies[cid]["op"]["delegate"] == "n1"
    (node, run), = w.runs
    assert node == 1 and run.action == "reboot" and run.target == "n3"
    assert run.host_arg == "plug" and run.params == {"ip": "10.1.1.1", "plug": "outlet3"}
    assert w.history(1) == w.history(2) == w.history(3)
    assert w.history(2)[0]["state"] == "done" and w.history(2)[0]["devices"] == ["d1"]


def test_target_asking_for_itself_is_fenced_by_another_node() -> None:
    w = World(3, cib(prim("d1", pcmk_host_list="n1 n2 n3")))
    w.request(1, "n1", "off")
    w.settle()
    assert [i for i, _ in w.runs] == [2]


def test_topology_levels_in_order_every_device_of_a_level_must_succeed() -> None:
    topo = ('<fencing-level id="l2" index="2" target="n2" devices="c"/>'
            '<fencing-level id="l1" index="1" target="n2" devices="a,b"/>')
    w = World(2, cib(prim("a", pcmk_host_list="n2") + prim("b", pcmk_host_list="n2",
                                                           pcmk_off_retries="1")
                     + prim("c", pcmk_host_list="n2"), topology=topo),
              agent=lambda r: (0, METADATA) if r.action == "metadata" else
              (1, "") if r.device == "b" else (0, ""))
    cid = w.request(1, "n2", "off")
    w.settle()
    assert [d for _, d, _ in w.fence_runs()] == ["a", "b", "c"]
    assert w.replies[cid]["ok"] and w.replies[cid]["op"]["devices"] == ["c"]


def test_reboot_through_a_level_of_several_devices_is_off_then_on() -> None:
    topo = '<fencing-level id="l1" index="1" target="n2" devices="psu1,psu2,psu3"/>'
    w = World(2, cib(prim("psu1", pcmk_host_list="n2") + prim("psu2", pcmk_host_list="n2")
                     + prim("psu3", pcmk_host_list="n2", pcmk_reboot_action="off"),
                     topology=topo),
              agent=lambda r: (0, METADATA) if r.action == "metadata" else
              (1, "") if (r.device, r.action) == ("psu2", "on") else (0, ""))
    cid = w.request(1, "n2")
    w.settle()
    assert [(d, a) for _, d, a in w.fence_runs()] == [
        ("psu1", "off"), ("psu2", "off"), ("psu3", "off"),     # every device off first
        ("psu1", "on"), ("psu2", "on"), ("psu2", "on")]        # psu3 stays off; psu2 retried
    reply = w.replies[cid]
    assert reply["ok"] and "psu2: on after off" in reply["op"]["reason"]


def test_all_levels_failing_reports_each_device() -> None:
    w = World(2, cib(prim("a", pcmk_host_list="n2", pcmk_reboot_retries="1")),
              agent=lambda r: (0, METADATA) if r.action == "metadata" else (1, ""))
    cid = w.request(1, "n2")
    w.settle()
    assert not w.replies[cid]["ok"] and w.replies[cid]["exit"] == 1
    assert "a: agent exited with status 1" in w.replies[cid]["error"]


def test_retries_within_the_timeout_then_give_up() -> None:
    attempts: list[int] = []

    def flaky(r: ev.RunAgent) -> tuple[int, str]:
        if r.action == "metadata":
            return 0, METADATA
        attempts.append(1)
        return (0, "") if len(attempts) == 3 else (1, "")

    w = World(2, cib(prim("a", pcmk_host_list="n2", pcmk_off_retries="3")), agent=flaky)
    cid = w.request(1, "n2", "off")
    w.settle()
    assert len(attempts) == 3 and w.replies[cid]["ok"]
    w2 = World(2, cib(prim("a", pcmk_host_list="n2")),
               agent=lambda r: (0, METADATA) if r.action == "metadata" else (1, ""))
    cid = w2.request(1, "n2", "off")
    w2.settle()
    assert len(w2.fence_runs()) == 2 and not w2.replies[cid]["ok"]   # default: 2 attempts


def test_a_timed_out_agent_is_not_retried() -> None:
    w = World(2, cib(prim("a", pcmk_host_list="n2", pcmk_off_retries="5")),
              agent=lambda r: (0, METADATA) if r.action == "metadata" else "timeout")
    cid = w.request(1, "n2", "off")
    w.settle()
    assert len(w.fence_runs()) == 1 and "timed out" in w.replies[cid]["error"]


def test_total_timer_is_1_2_times_the_plan_and_ends_the_operation() -> None:
    w = World(2, cib(prim("a", pcmk_host_list="n2", pcmk_off_timeout="10s")
                     + prim("b", pcmk_host_list="n2"),
                     props='<nvpair id="st" name="stonith-timeout" value="20s"/>'))
    cid = w.request(1, "n2", "off")
    w.answer_metadata()
    total = [e for i, e in w.effects if isinstance(e, ev.SetTimer) and e.timer_id.startswith("total:")]
    assert len(total) == 1 and total[0].at - w.now == pytest.approx(1.2 * (10 + 20))
    (_, first), = [(i, r) for i, r in w.pending if r.action == "off"]
    assert first.timeout_s == pytest.approx(10)          # the agent gets the plain timeout
    w.pending.clear()                                     # the agent hangs
    w.advance(36.5)
    assert w.replies[cid]["exit"] == 124 and "total timeout" in w.replies[cid]["error"]
    w.apply(1, w.f[1].step(ev.AgentFinished(w.now, first.call_id, 0)))   # too late: ignored
    assert w.history(2)[0]["state"] == "failed"


def test_random_delay_from_the_seeded_generator() -> None:
    def delays(seed: int) -> list[float]:
        w = World(2, cib(prim("a", pcmk_host_list="n2", pcmk_delay_base="1s",
                              pcmk_delay_max="5s")), seed=seed)
        w.request(1, "n2", "off")
        w.settle()
        assert w.fence_runs() == []                       # waiting out the delay
        timer = [e for _, e in w.effects if isinstance(e, ev.SetTimer)
                 and e.timer_id.startswith("delay:")][0]
        w.advance(timer.at - w.now + 0.001)
        assert len(w.fence_runs()) == 1
        return [timer.at - 1000.0]

    assert delays(3) == delays(3)
    expected = 1.0 + random.Random(3 + 1).uniform(0.0, 4.0)   # node 1's generator
    assert delays(3)[0] == pytest.approx(expected)
    assert delays(3) != delays(4)


def test_identical_concurrent_requests_are_merged() -> None:
    w = World(3, cib(prim("a", pcmk_host_list="n3")))
    c1, c2 = w.request(1, "n3", client="x"), w.request(2, "n3", client="y")
    c3 = w.request(2, "n3", "off", client="z")               # another action: not merged
    w.settle()
    assert sorted(a for _, _, a in w.fence_runs()) == ["off", "reboot"]
    assert w.replies[c1]["ok"] and w.replies[c2]["ok"] and w.replies[c3]["ok"]
    assert w.replies[c2]["op"]["merged_into"] == w.replies[c1]["op"]["id"]
    assert [o["state"] for o in w.history(3)] == ["done", "done", "done"]


def test_joining_node_receives_the_history() -> None:
    w = World(3, cib(prim("a", pcmk_host_list="n2")), members=(1, 2))
    w.request(1, "n2")
    w.settle()
    assert w.history(3) == []
    w.members = (1, 2, 3)
    for i in w.members:
        w.apply(i, w.f[i].step(ev.MembershipChanged(w.now, w.members, joined=(3,))))
    w.settle()
    assert w.history(3) == w.history(1) and len(w.history(3)) == 1


def test_executor_leaving_fails_the_pending_operation() -> None:
    w = World(3, cib(prim("a", pcmk_host_list="n3")))
    cid = w.request(2, "n3")
    w.deliver()
    w.pending.clear()                                      # n2 dies before its agent ends
    w.members = (1, 3)
    for i in w.members:
        w.apply(i, w.f[i].step(ev.MembershipChanged(w.now, w.members, left=(2,))))
    w.settle()
    assert w.history(1)[0]["state"] == "failed" and "n2" in w.history(3)[0]["reason"]
    assert cid not in w.replies                            # its client was on n2


def test_malformed_group_messages_dropped_and_counted() -> None:
    w = World(2, cib(prim("a")))
    for bad in (b"\xff", b"[]", b'{"t":"request","id":"x"}', b'{"t":"result","id":1}',
                b'{"t":"history","ops":[{"id":"q"}]}',
                b'{"t":"request","id":"x","target":"n1","action":"off","client":"c","created":NaN}'):
        w.apply(1, w.f[1].step(ev.GroupDelivered(w.now, 2, bad)))
    assert w.f[1].dropped == 6 and w.history(1) == []


def test_dynamic_list_and_status_host_checks() -> None:
    def agent(r: ev.RunAgent) -> tuple[int, str]:
        if r.action == "metadata":
            return 0, METADATA
        if r.action == "list":
            return 0, "n1,alias1\nn2\n"
        if r.action == "status":
            return (2, "") if r.target == "n2" else (1, "")
        return 0, ""

    w = World(3, cib(prim("dyn") + prim("st", pcmk_host_check="status")), agent=agent)
    ok = w.request(1, "n2", "off")
    nobody = w.request(1, "n3", "off")
    w.settle()
    assert w.replies[ok]["ok"] and w.replies[ok]["op"]["devices"] == ["dyn"]
    assert w.replies[nobody]["exit"] == 105
    assert ("list", None) in {(r.action, r.target) for _, r in w.runs}
    lists = len([r for _, r in w.runs if r.action == "list"])
    again = w.request(1, "n2", "off")          # carried out by n1 again
    w.settle()
    assert w.replies[again]["ok"]
    assert len([r for _, r in w.runs if r.action == "list"]) == lists     # the cached list


def test_failed_list_falls_back_to_status() -> None:
    def agent(r: ev.RunAgent) -> tuple[int, str]:
        if r.action == "metadata":
            return 0, METADATA
        if r.action == "list":
            return 1, ""
        if r.action == "status":
            return (0, "") if r.target == "n2" else (1, "")
        return 0, ""

    w = World(3, cib(prim("dyn")), agent=agent)
    ok = w.request(1, "n2", "off")
    w.settle()
    no = w.request(1, "n3", "off")
    w.settle()
    assert w.replies[ok]["ok"] and w.replies[no]["exit"] == 105
    assert [(r.action, r.target) for _, r in w.runs] == [
        ("list", None), ("status", "n2"), ("off", "n2"), ("status", "n3")]


def test_bad_request_refused() -> None:
    w = World(1, cib(""))
    cid = w.request(1, "n1", "explode")
    assert w.replies[cid]["exit"] == 2 and "expected a node name" in w.replies[cid]["error"]
    cid = w.request(1, "n1\raction=on")
    assert w.replies[cid]["exit"] == 2 and w.queue == []


@pytest.mark.parametrize("policy,expect", [("suicide", True), ("stop", False)])
def test_self_fence_on_quorum_loss_with_suicide(policy: str, expect: bool) -> None:
    props = f'<nvpair id="q" name="no-quorum-policy" value="{policy}"/>'
    f = Fencer(1, {1: "n1"}, random.Random(1))
    f.step(ev.ConfigChanged(0, cib("", props=props)))
    assert f.step(ev.QuorumChanged(1, False)) == []         # never had quorum: starting up
    f.step(ev.QuorumChanged(2, True))
    out = f.step(ev.QuorumChanged(3, False))
    assert any(isinstance(e, ev.SelfFence) for e in out) == expect
