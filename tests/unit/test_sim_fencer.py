"""The fencer core on simulated nodes: SimFencer + simulated power switches, in
virtual time over simulated Totem. Every failing check names the seed and the command
that replays it."""

from __future__ import annotations

import hashlib
import json

from ha.executor import Request
from ha.sim import fencing_run
from ha.sim.fencedevices import DeviceBehaviour
from ha.sim.fencing_run import DUMMY, Cluster, cluster, fence_cib, identical_histories
from ha.sim.world import SimWorld

SEED = 5
REPLAY = "python -m pytest tests/unit/test_sim_fencer.py -q -k"


def where(test: str, seed: int = SEED) -> str:
    return f"seed {seed}; replay: {REPLAY} '{test}'"


def hosts(n: int) -> str:
    return ",".join(f"node{i}" for i in range(1, n + 1))


def up(n: int, cib_devices: dict[str, dict[str, str]], levels: list[tuple[str, int, str]] | None = None,
       props: dict[str, str] | None = None, seed: int = SEED, **kw: object) -> Cluster:
    c = cluster(seed, n, fence_cib(cib_devices, levels or [], props), **kw)  # type: ignore[arg-type]
    c.world.run_for(5_000_000)
    assert all(c.members(i) == tuple(range(1, n + 1)) for i in range(1, n + 1)), \
        f"the ring did not form: {where('up', seed)}"
    return c


def events(world: SimWorld, name: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in world.trace if f'"event":"{name}"' in line]


def test_fence_off_through_one_node_turns_the_target_off() -> None:
    c = up(4, {"sw": {"pcmk_host_list": hosts(4)}})
    cid = c.fencing.fence(1, "node3", "off")
    c.world.run_for(20_000_000)
    w = where("turns_the_target_off")
    assert cid is not None and c.fencing.replies[cid][2]["ok"], w
    assert c.devices.power[3] is False and not c.world.alive(3), w
    for i in (1, 2, 4):
        assert c.members(i) == (1, 2, 4), w          # it left the membership
    assert identical_histories(c) == [], w
    op = c.fencing.history(2)[0]
    assert (op["target"], op["action"], op["state"], op["delegate"], op["devices"]) == \
        ("node3", "off", "done", "node1", ["sw"]), w
    assert [(e[1], e[3], e[4]) for e in c.devices.log] == [(1, "off", "node3")], w


def test_reboot_brings_the_target_back_with_the_same_history() -> None:
    c = up(3, {"sw": {"pcmk_host_list": hosts(3)}})
    c.devices.boot_ms = 3000
    cid = c.fencing.fence(2, "node1", "reboot")
    c.world.run_for(30_000_000)
    w = where("reboot_brings")
    assert cid is not None and c.fencing.replies[cid][2]["ok"], w
    assert c.world.alive(1) and c.fencing.incarnation[1] == 2, w
    assert [json.loads(x)["event"] for x in c.world.trace if '"node":1,' in x and
            ('power_' in x or 'node_crash' in x)][:3] == ["power_off", "node_crash", "power_on"], w
    assert all(c.members(i) == (1, 2, 3) for i in (1, 2, 3)), w
    assert identical_histories(c) == [], w          # the rebooted node got the history
    assert c.fencing.history(1)[0]["state"] == "done", w


def test_concurrent_identical_requests_are_merged() -> None:
    c = up(5, {"sw": {"pcmk_host_list": hosts(5)}})
    c.devices.set(DeviceBehaviour(duration_ms=3000))
    a = c.fencing.fence(1, "node5", "off")
    b = c.fencing.fence(2, "node5", "off")
    c.world.run_for(1_000_000)
    d = c.fencing.fence(4, "node5", "off")          # still pending: merged too
    c.world.run_for(30_000_000)
    w = where("merged")
    assert [e[3] for e in c.devices.log] == ["off"], w   # carried out once
    for cid in (a, b, d):
        assert cid is not None and c.fencing.replies[cid][2]["ok"], w
    hist = c.fencing.history(1)
    assert len(hist) == 3 and [h["merged_into"] is None for h in hist].count(True) == 1, w
    assert {h["state"] for h in hist} == {"done"}, w
    assert identical_histories(c) == [], w


def test_a_failing_first_level_then_a_working_second() -> None:
    c = up(3, {"ipmi": {"pcmk_host_list": hosts(3)}, "pdu": {"pcmk_host_list": hosts(3)}},
           [("node2", 1, "ipmi"), ("node2", 2, "pdu")])
    c.devices.set(DeviceBehaviour(rc=1), device="ipmi")
    cid = c.fencing.fence(1, "node2", "off")
    c.world.run_for(30_000_000)
    w = where("failing_first_level")
    assert cid is not None and c.fencing.replies[cid][2]["ok"], w
    # ipmi tried twice (pcmk_off_retries default 2), then pdu
    assert [(e[2], e[5]) for e in c.devices.log] == [("ipmi", 1), ("ipmi", 1), ("pdu", 0)], w
    assert not c.world.alive(2), w
    assert c.fencing.history(3)[0]["devices"] == ["pdu"], w
    assert identical_histories(c) == [], w


def test_a_hung_device_times_out_and_the_next_level_fences() -> None:
    c = up(3, {"ipmi": {"pcmk_host_list": hosts(3), "pcmk_off_timeout": "5s"},
               "pdu": {"pcmk_host_list": hosts(3)}},
           [("node3", 1, "ipmi"), ("node3", 2, "pdu")])
    c.devices.set(DeviceBehaviour(hang=True), device="ipmi", action="off")
    t0 = c.world.now_us
    cid = c.fencing.fence(1, "node3", "off")
    c.world.run_for(30_000_000)
    w = where("hung_device")
    assert cid is not None and c.fencing.replies[cid][2]["ok"], w
    res = [e for e in events(c.world, "fence_agent_result") if e["node"] == 1]
    assert [(e["device"], e["timed_out"]) for e in res] == [("ipmi", True), ("pdu", False)], w
    assert 5_000_000 <= int(float(str(res[0]["t_ms"])) * 1000) - t0 < 6_000_000, w
    assert [e[2] for e in c.devices.log] == ["pdu"], w      # the hung one never acted


def test_all_levels_failing_fails_everywhere_and_the_target_lives() -> None:
    c = up(3, {"sw": {"pcmk_host_list": hosts(3)}})
    c.devices.set(DeviceBehaviour(rc=1))
    cid = c.fencing.fence(3, "node1", "off")
    c.world.run_for(30_000_000)
    w = where("all_levels_failing")
    assert cid is not None, w
    reply = c.fencing.replies[cid][2]
    assert reply["ok"] is False and "failed" in reply["error"], w
    assert c.world.alive(1) and c.devices.power[1], w
    assert [h["state"] for h in c.fencing.history(2)] == ["failed"], w
    assert identical_histories(c) == [], w


def test_suicide_a_partitioned_minority_node_stops_its_resources_then_fences_itself() -> None:
    c = up(3, {"sw": {"pcmk_host_list": hosts(3)}}, props={"no-quorum-policy": "suicide"})
    for i in (1, 2, 3):
        c.executors[i].submit(Request(f"r{i}", DUMMY, "start", timeout_ms=20_000))
    c.world.run_for(1_000_000)
    assert c.agents[3].active() == {"r3": "started"}
    c.world.network.isolate(3, (1, 2))
    c.world.run_for(20_000_000)
    w = where("suicide")
    assert [n for _, n in c.fencing.self_fenced] == [3], w
    assert not c.world.alive(3) and c.devices.power[3], w     # it exited; nobody cut its power
    lines = [json.loads(x) for x in c.world.trace if '"node":3,' in x]
    kinds = [x["event"] for x in lines]
    stop = next(i for i, x in enumerate(lines)
                if x["event"] == "executor_result" and x["action"] == "stop" and x["rsc"] == "r3")
    assert kinds.index("fence_self") < stop < kinds.index("self_fenced") < kinds.index("node_crash"), w
    assert next(x for x in lines if x["event"] == "self_fenced")["stopped"] == ["r3"], w
    for i in (1, 2):                                    # the majority keeps running
        assert c.world.alive(i) and c.agents[i].active() == {f"r{i}": "started"}, w


def test_a_malformed_group_message_is_dropped_and_counted() -> None:
    c = up(3, {"sw": {"pcmk_host_list": hosts(3)}})
    c.world.send(2, "fencer", b"\x00not a fencer message", True)
    c.world.run_for(2_000_000)
    w = where("malformed")
    assert [c.fencing.fencers[i].core.dropped for i in (1, 2, 3)] == [1, 1, 1], w
    cid = c.fencing.fence(1, "node2", "off")        # and fencing still works
    c.world.run_for(20_000_000)
    assert cid is not None and c.fencing.replies[cid][2]["ok"], w


def _digest(seed: int) -> str:
    r = fencing_run.run(seed)
    assert r.ok, f"seed {seed}: {r.violations}; replay: ha sim fencing --seed {seed}"
    return hashlib.sha256("\n".join(r.trace).encode()).hexdigest()


def test_same_seed_gives_byte_identical_trace() -> None:
    assert _digest(21) == _digest(21), "seed 21; replay: ha sim fencing --seed 21"
    assert _digest(21) != _digest(22)


def test_ha_sim_fencing_command_runs_a_scenario_by_seed(tmp_path: object, capsys: object) -> None:
    from pathlib import Path

    from ha.cli.main import main

    out = Path(str(tmp_path))
    assert main(["sim", "fencing", "--seed", "4", "--output-as", "json",
                 "--trace", str(out / "a.jsonl")]) == 0
    assert main(["sim", "fencing", "--seed", "4", "--output-as", "json",
                 "--trace", str(out / "b.jsonl")]) == 0
    lines = capsys.readouterr().out.splitlines()  # type: ignore[attr-defined]
    first = json.loads(lines[0])
    assert first["ok"] and first["replay"] == "ha sim fencing --seed 4", lines[0]
    assert first["fenced"] == [first["target"]]
    assert (out / "a.jsonl").read_bytes() == (out / "b.jsonl").read_bytes()


def test_the_executing_node_crashing_mid_fence_fails_the_operation_everywhere() -> None:
    c = up(4, {"sw": {"pcmk_host_list": hosts(4)}})
    c.devices.set(DeviceBehaviour(duration_ms=5000))
    cid = c.fencing.fence(2, "node3", "off")
    c.world.run_for(1_000_000)
    c.world.crash(2)                                 # its agent dies with it: no command sent
    c.world.run_for(20_000_000)
    w = where("crashing_mid_fence")
    assert cid is not None and cid not in c.fencing.replies, w   # its client died with it
    assert c.world.alive(3) and c.devices.log == [], w
    hist = c.fencing.history(1)
    assert [(h["state"], h["delegate"]) for h in hist] == [("failed", "node1")], w
    assert "left the cluster" in hist[0]["reason"], w
    assert identical_histories(c) == [], w


def test_a_node_asking_to_fence_itself_is_fenced_by_a_peer() -> None:
    c = up(3, {"sw": {"pcmk_host_list": hosts(3)}})
    c.fencing.fence(1, "node1", "off")
    c.world.run_for(20_000_000)
    w = where("fence_itself")
    assert [(e[1], e[4]) for e in c.devices.log] == [(2, "node1")], w   # the lowest other member
    assert not c.world.alive(1), w
    assert c.fencing.history(3)[0]["delegate"] == "node2", w
