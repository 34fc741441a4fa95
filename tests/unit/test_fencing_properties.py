"""Fencer invariants over random interleavings (Hypothesis): requests from any node,
group messages delivered one at a time, agents answering success or failure in any
order, timers firing. Replay a failure with the ``--hypothesis-seed`` Hypothesis
prints (``python -m pytest tests/unit/test_fencing_properties.py --hypothesis-seed=N``).

Invariants, named for what they protect:

- ``agreed_history`` — every node holds the same fencing history;
- ``one_reply_per_request`` — every client gets exactly one answer;
- ``merged_share_result`` — a request merged into another ends as that one did;
- ``one_executor_per_operation`` — an operation's devices run on one node only;
- ``no_duplicate_pending`` — never two unmerged pending operations of one target and
  action.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_fencing_fencer import METADATA, World, cib, prim

from ha.fencing import events as ev

STEP = st.one_of(
    st.tuples(st.just("request"), st.integers(1, 3), st.sampled_from(["n1", "n2", "n3"]),
              st.sampled_from(["reboot", "off"])),
    st.tuples(st.just("deliver")),
    st.tuples(st.just("answer"), st.booleans()),
    st.tuples(st.just("advance"), st.floats(0.5, 40)),
)


def _deliver_one(w: World) -> None:
    if w.queue:
        sender, payload = w.queue.pop(0)
        for i in w.members:
            w.apply(i, w.f[i].step(ev.GroupDelivered(w.now, sender, payload)))


def _answer_one(w: World, ok: bool) -> None:
    if w.pending:
        i, run = w.pending.pop(0)
        out = METADATA if run.action == "metadata" else ""
        rc = 0 if ok or run.action == "metadata" else 1
        w.apply(i, w.f[i].step(ev.AgentFinished(w.now, run.call_id, rc, out)))


def _check_no_duplicate_pending(w: World) -> None:
    for i in w.members:
        pending = Counter((o.target, o.action) for o in w.f[i].history.ordered()
                          if o.state == "pending" and o.merged_into is None)
        assert all(n == 1 for n in pending.values()), pending


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(STEP, max_size=40))
def test_fencer_invariants(steps: list[tuple[Any, ...]]) -> None:
    w = World(3, cib(prim("a", pcmk_host_list="n1 n2 n3", pcmk_reboot_retries="1",
                          pcmk_off_retries="1")))
    asked: list[str] = []
    replies: Counter[str] = Counter()
    seen = 0
    for step in steps:
        if step[0] == "request":
            asked.append(w.request(step[1], step[2], step[3]))
        elif step[0] == "deliver":
            _deliver_one(w)
        elif step[0] == "answer":
            _answer_one(w, step[1])
        else:
            w.advance(step[1])
        _check_no_duplicate_pending(w)
    # heal: every message delivered, every agent answers, every timer fires
    for _ in range(200):
        if not (w.queue or w.pending):
            break
        _deliver_one(w)
        _answer_one(w, True)
    w.advance(10_000)
    for _i, e in w.effects[seen:]:
        if isinstance(e, ev.ReplyClient):
            replies[e.client_id] += 1
    histories = [[o.as_json() for o in w.f[i].history.ordered()] for i in w.members]
    assert all(h == histories[0] for h in histories), "agreed_history"
    assert all(replies[c] == 1 for c in asked) and set(replies) == set(asked), \
        "one_reply_per_request"
    ops = {o["id"]: o for o in histories[0]}
    for o in ops.values():
        assert o["state"] != "pending", "every operation ends after healing"
        if o["merged_into"]:
            assert o["state"] == ops[o["merged_into"]]["state"], "merged_share_result"
    runners: dict[str, set[int]] = {}
    for i, e in w.effects:
        if isinstance(e, ev.Trace) and e.event == "fence_exec":
            runners.setdefault(e.fields["id"], set()).add(i)
    assert all(len(nodes) == 1 for nodes in runners.values()), "one_executor_per_operation"
