"""Bad datagrams against a live 3-node cluster: none crashes a daemon, changes the
membership or slips through uncounted, and ordered delivery carries on meanwhile.

The live test needs root: real datagrams are captured for replay with an AF_PACKET
socket on ``lo``. ``HASTACK_FUZZ_PACKETS`` sets how many datagrams are sent (100000 by
default) and ``HASTACK_FUZZ_SEED`` the seed that draws them.
"""

from __future__ import annotations

import collections
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from ha.runtime.control import ControlClient, ControlError
from ha.runtime.daemon import SOCKET_BUFFER
from ha.runtime.wire import PacketCodec
from ha.totem.messages import Mcast, Message, OrfToken
from harness.fuzzlive import (
    FuzzSender,
    FuzzTally,
    LoopbackCapture,
    Pacer,
    feed,
    send_fuzz,
    socket_drops,
    udp_counters,
)
from harness.packetfuzz import CLASSES, Captured, PacketFuzzer
from harness.realcluster import HastackCluster

FUZZ_PACKETS = int(os.environ.get("HASTACK_FUZZ_PACKETS", "100000"))
SEED = int(os.environ.get("HASTACK_FUZZ_SEED", "20240611"))
GROUP = "fuzzed"
MEMBERSHIP_EVENTS = ("gather", "commit", "recovery", "operational", "transitional", "regular",
                     "token_lost", "failed_to_receive")


# ---- the fuzzer's expectations, checked against the codec itself (no root) ------------

def _codecs() -> dict[int, PacketCodec]:
    key = bytes(range(64))
    return {i: PacketCodec(node_id=i, key=key, cluster_name="lab", incarnation=1000 + i)
            for i in (1, 2, 3)}


def test_fuzzer_expectations_match_the_codec() -> None:
    """Each drawn datagram is dropped by a ``PacketCodec`` under the reason it names,
    while the codecs also carry a ring's traffic (the token to the next member, messages
    to everyone) that the fuzzer "captures"."""
    codecs = _codecs()
    addrs = {i: f"127.0.0.{i}" for i in codecs}
    fuzz = PacketFuzzer(SEED, addrs, key=bytes(range(64)), cluster_name="lab")
    kinds: collections.Counter[str] = collections.Counter()
    expected = {i: collections.Counter[str]() for i in codecs}
    for step in range(1000):
        now = step / 200
        src = step % 3 + 1
        traffic: list[Captured] = []
        tok = OrfToken((1, 8), step, step, step, 0, 0, 0, False, [], src)
        msgs: list[tuple[Message, list[int]]] = [(tok, [src % 3 + 1])]
        if step % 4 == 0:
            msgs.append((Mcast((1, 8), step, src, False, b"x" * (step % 50)), [*set(codecs) - {src}]))
        for msg, dsts in msgs:
            for d in codecs[src].encode(msg):
                for dst in dsts:
                    assert codecs[dst].decode(d, src, now) is not None
                    traffic.append(Captured(now, src, dst, d))
        fuzz.observe(traffic, now)
        for _ in range(8):
            p = fuzz.next(now + 0.03)
            kinds[p.kind] += 1
            expected[p.dst][p.expect] += 1
            sender = next((i for i, a in addrs.items() if a == p.src), None)
            if sender is None:
                codecs[p.dst].drop("unknown_address")
            else:
                assert codecs[p.dst].decode(p.data, sender, now) is None, p
            if not fuzz.pending:  # (the fragments of a message are counted when it is whole)
                assert {i: +c.drops for i, c in codecs.items()} == expected, p
    assert set(kinds) == set(CLASSES), kinds
    assert not fuzz.defects


# ---- the live cluster -------------------------------------------------------------------

class _Listener(threading.Thread):
    """A control-socket ``listen`` stream of one node: the messages it delivers."""

    def __init__(self, cluster: HastackCluster, node: int) -> None:
        super().__init__(name=f"listen-{node}", daemon=True)
        self.client = ControlClient(cluster.path(node, "sock"), timeout=30.0)
        first = self.client.request("listen", group=GROUP)
        assert first.get("event") == "listening", first
        self.messages: list[tuple[int, str]] = []
        self.error: str | None = None

    def run(self) -> None:
        try:
            while True:
                ev = self.client.read()
                if ev.get("event") == "message":
                    self.messages.append((ev["seq"], ev["data"]))
                    if ev["data"] == "end":
                        return
        except (ControlError, OSError, ValueError) as exc:
            self.error = f"{type(exc).__name__}: {exc}"
        finally:
            self.client.close()


class _GroupSender(threading.Thread):
    """Node 1 sends a numbered message every ``period_s`` until stopped."""

    def __init__(self, cluster: HastackCluster, period_s: float = 0.02) -> None:
        super().__init__(name="group-sender", daemon=True)
        self.client = ControlClient(cluster.path(1, "sock"), timeout=10.0)
        self.period_s = period_s
        self.sent: list[str] = []
        self.stop = threading.Event()
        self.error: str | None = None

    def send(self, data: str) -> None:
        r = self.client.request("send", group=GROUP, data=data)
        assert r.get("ok"), r
        self.sent.append(data)

    def run(self) -> None:
        try:
            while not self.stop.wait(self.period_s):
                self.send(f"m{len(self.sent)}")
        except (ControlError, OSError, AssertionError) as exc:
            self.error = f"{type(exc).__name__}: {exc}"


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[HastackCluster]:
    if os.geteuid() != 0:
        pytest.skip("needs root: real datagrams are captured for replay with AF_PACKET on lo")
    with HastackCluster(3, str(tmp_path), token=300) as c:
        c.start_converged()
        yield c


class _Snapshot:
    """What the nodes and the kernel report: drops, membership records, UDP errors."""

    def __init__(self, c: HastackCluster, clients: dict[int, ControlClient]) -> None:
        self.stats = {i: clients[i].request("stats") for i in c.nodes}
        self.total = {i: int(self.stats[i]["dropped_total"]) for i in c.nodes}
        self.membership_records = {
            i: sum(1 for r in c.trace_records(i) if r.get("event") in MEMBERSHIP_EVENTS)
            for i in c.nodes}
        self.udp = udp_counters()
        self.socket_drops = socket_drops(c.port)

    def dropped_since(self, before: _Snapshot) -> collections.Counter[str]:
        out: collections.Counter[str] = collections.Counter()
        for i, st in self.stats.items():
            out.update(st["dropped"])
            out.subtract(before.stats[i]["dropped"])
        return +out


def _rmem_max() -> int:
    with open("/proc/sys/net/core/rmem_max", encoding="ascii") as fh:
        return int(fh.read())


def _report(tally: FuzzTally, fuzz: PacketFuzzer, pacer: Pacer, capture: LoopbackCapture,
            before: _Snapshot, after: _Snapshot, sender: _GroupSender, during: int,
            seconds: float) -> str:
    per_node = {i: (pacer.sent(i), after.total[i] - before.total[i]) for i in after.total}
    return "\n".join([
        f"seed {SEED} (HASTACK_FUZZ_SEED), {FUZZ_PACKETS} datagrams in {seconds:.1f} s "
        f"(sending {tally.seconds:.1f} s, {tally.redrawn} redrawn, {pacer.polls} stats polls)",
        f"per class: {dict(sorted(tally.by_kind.items()))}",
        f"per class and reason: {dict(sorted(tally.by_kind_reason.items()))}",
        f"expected drops by reason: {dict(sorted(tally.expected.items()))}",
        f"counted drops by reason:  {dict(sorted(after.dropped_since(before).items()))}",
        f"per node (sent, counted): {per_node}",
        "kernel Udp counters delta: " + str({k: after.udp[k] - before.udp[k] for k in
                                              ("InErrors", "RcvbufErrors", "NoPorts")}),
        "daemon socket drops delta: " + str({a: after.socket_drops.get(a, 0) - n
                                              for a, n in before.socket_drops.items()}),
        f"capture: {len(fuzz.pool)} real datagrams, kernel {capture.packets} packets "
        f"{capture.drops} dropped; group messages sent {len(sender.sent)}, {during} "
        f"while fuzzing",
        f"pacer stalls: {pacer.stalls}; codec defects: {fuzz.defects[:3]}",
    ])


@pytest.mark.root
def test_fuzz_a_live_cluster(cluster: HastackCluster) -> None:
    c = cluster
    ring = c.wait_membership(c.nodes, c.nodes)
    capture = LoopbackCapture(c.port, c.addrs)
    listeners = [_Listener(c, i) for i in c.nodes]
    for li in listeners:
        li.start()
    c.wait_for(f"group {GROUP} on every node", lambda: all(
        c.ask(i, "groups")["groups"].get(GROUP) == [1, 2, 3] for i in c.nodes), 10)
    clients = {i: ControlClient(c.path(i, "sock"), timeout=10.0) for i in c.nodes}
    before = _Snapshot(c, clients)
    sender = _GroupSender(c)
    sender.start()
    with open(c.keyfile, "rb") as fh:
        fuzz = PacketFuzzer(SEED, c.addrs, key=fh.read(), cluster_name="hastack-lab")
    out = FuzzSender(c.addrs, c.port, fuzz.foreign)
    rcvbuf = 2 * min(SOCKET_BUFFER, _rmem_max())  # what the daemon's SO_RCVBUF gets

    def counted(i: int) -> int:
        return int(clients[i].request("stats")["dropped_total"]) - before.total[i]

    pacer = Pacer(counted, max_packets=256, max_bytes=rcvbuf // 8)
    t0 = time.monotonic()
    try:
        while time.monotonic() < t0 + fuzz.replay_age_s + 0.1:  # something old enough to replay
            feed(fuzz, capture)
            time.sleep(0.01)
        group_before = len(sender.sent)
        tally = send_fuzz(fuzz, out, pacer, FUZZ_PACKETS, capture)
        during = len(sender.sent) - group_before
        feed(fuzz, capture)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and any(counted(i) < pacer.sent(i) for i in c.nodes):
            time.sleep(0.05)
        time.sleep(0.2)  # anything counted twice or late shows up too
        seconds = time.monotonic() - t0
    finally:
        out.close()
        capture.close()
        sender.stop.set()
        sender.join(5)
    if sender.error is None:
        sender.send("end")
    for li in listeners:
        li.join(15)
    after = _Snapshot(c, clients)
    for cl in clients.values():
        cl.close()
    report = _report(tally, fuzz, pacer, capture, before, after, sender, during, seconds)
    print("\n" + report)

    for i in c.nodes:
        assert c.running(i), f"node {i} died\n{report}\n{c.log_text(i)[-3000:]}"
        assert "Traceback" not in c.log_text(i), f"node {i}:\n{c.log_text(i)[-5000:]}"
    assert {i: c.members(i) for i in c.nodes} == {i: (ring, (1, 2, 3)) for i in c.nodes}, report
    assert after.membership_records == before.membership_records, \
        f"membership events in the traces\n{report}"
    assert not fuzz.defects and not pacer.stalls, report
    assert sum(tally.by_node.values()) == FUZZ_PACKETS
    assert sum(after.total.values()) - sum(before.total.values()) == FUZZ_PACKETS, \
        f"not each datagram counted once\n{report}"
    assert {i: after.total[i] - before.total[i] for i in c.nodes} == \
        {i: tally.by_node[i] for i in c.nodes}, report
    assert after.dropped_since(before) == tally.expected, f"reasons differ\n{report}"
    assert FUZZ_PACKETS < 10000 or set(tally.by_kind) == set(CLASSES), report

    assert sender.error is None, sender.error
    assert during > 0 or FUZZ_PACKETS < 10000, report
    for li in listeners:
        assert li.error is None, li.error
        got = [d for _, d in li.messages]
        assert got == sender.sent, (
            f"{li.name}: {len(got)} of {len(sender.sent)} group messages, first difference at "
            f"{next((k for k, (a, b) in enumerate(zip(got, sender.sent, strict=False)) if a != b), None)}")
    assert listeners[0].messages == listeners[1].messages == listeners[2].messages
