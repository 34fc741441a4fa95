"""The fencer core hosted in one process, for tests and the fencing benchmark.

The node daemon hosts ``ha.fencing.fencer.Fencer`` in ``ha.runtime.fencerservice``,
fed by Totem. This host does the same without a cluster: a one-member process group
``fencer`` whose multicasts (``SendGroup``) are delivered straight back in order
(``GroupDelivered``, on the next turn of the event loop, never re-entrantly), real fence
agents through ``ha.runtime.fence_runner.run_fence_agent``, and timers on an asyncio
loop owned by the host. So a fence request goes the whole way a real one goes on a
lone node: the device read from a CIB, the agent's metadata, the host check, the
request and result through the group, the history, the reply.
"""

from __future__ import annotations

import asyncio
import random
import time
from typing import Any

from lxml import etree

from ha.fencing import events as ev
from ha.fencing.fencer import Fencer
from ha.runtime.fence_runner import run_fence_agent

NODE_ID = 1
NODE_NAME = "fencer-host"


def device_cib(devices: dict[str, tuple[str, dict[str, str]]],
               properties: dict[str, str] | None = None) -> etree._Element:
    """A CIB holding ``devices`` (id → (agent, instance attributes)) as stonith primitives."""
    cib = etree.Element("cib", {"admin_epoch": "0", "epoch": "1", "num_updates": "0",
                                "validate-with": "pacemaker-3.9"})
    conf = etree.SubElement(cib, "configuration")
    crm = etree.SubElement(conf, "crm_config")
    props = etree.SubElement(crm, "cluster_property_set", id="cib-bootstrap-options")
    for k, v in (properties or {}).items():
        etree.SubElement(props, "nvpair", id=f"opt-{k}", name=k, value=v)
    etree.SubElement(conf, "nodes")
    res = etree.SubElement(conf, "resources")
    for dev_id, (agent, params) in devices.items():
        prim = etree.SubElement(res, "primitive", id=dev_id, type=agent)
        prim.set("class", "stonith")
        ia = etree.SubElement(prim, "instance_attributes", id=f"{dev_id}-ia")
        for k, v in params.items():
            etree.SubElement(ia, "nvpair", id=f"{dev_id}-{k}", name=k, value=v)
    etree.SubElement(conf, "constraints")
    etree.SubElement(cib, "status")
    return cib


class FencerHost:
    """One Fencer core on a private event loop; ``fence`` blocks until the reply."""

    def __init__(self, cib: etree._Element, seed: int = 1) -> None:
        self.core = Fencer(NODE_ID, {NODE_ID: NODE_NAME}, random.Random(seed), session=seed)
        self.loop = asyncio.new_event_loop()
        self.traces: list[tuple[str, dict[str, Any]]] = []
        self.agent_runs: list[ev.RunAgent] = []
        self._timers: dict[str, asyncio.TimerHandle] = {}
        self._clients: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._n = 0
        self.feed(ev.ConfigChanged(time.time(), cib))
        self.feed(ev.MembershipChanged(time.time(), (NODE_ID,), (NODE_ID,)))

    @classmethod
    def for_device(cls, target: str, agent: str, params: dict[str, str]) -> FencerHost:
        """A host with one device for ``target`` (``pcmk_host_list`` set to it)."""
        return cls(device_cib({f"fence-{target}": (agent, {**params,
                                                          "pcmk_host_list": target})}))

    def feed(self, event: ev.Event) -> None:
        for e in self.core.step(event):
            if isinstance(e, ev.SendGroup):
                self.loop.call_soon(self.feed, ev.GroupDelivered(time.time(), NODE_ID, e.payload))
            elif isinstance(e, ev.RunAgent):
                self.agent_runs.append(e)
                task = self.loop.create_task(self._run(e))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
            elif isinstance(e, ev.SetTimer):
                old = self._timers.pop(e.timer_id, None)
                if old is not None:
                    old.cancel()
                self._timers[e.timer_id] = self.loop.call_later(
                    max(e.at - time.time(), 0.0), self._fire, e.timer_id)
            elif isinstance(e, ev.CancelTimer):
                handle = self._timers.pop(e.timer_id, None)
                if handle is not None:
                    handle.cancel()
            elif isinstance(e, ev.ReplyClient):
                fut = self._clients.pop(e.client_id, None)
                if fut is not None and not fut.done():
                    fut.set_result(e.reply)
            elif isinstance(e, ev.Trace):
                self.traces.append((e.event, e.fields))

    def _fire(self, timer_id: str) -> None:
        self._timers.pop(timer_id, None)
        self.feed(ev.TimerFired(time.time(), timer_id))

    async def _run(self, e: ev.RunAgent) -> None:
        r = await run_fence_agent(e.agent, e.params, e.action, e.target, timeout=e.timeout_s,
                                  host_arg=e.host_arg)
        self.feed(ev.AgentFinished(time.time(), e.call_id, r.rc, r.stdout, r.stderr,
                                   r.timed_out))

    async def _fence(self, target: str, action: str, timeout_s: float | None) -> dict[str, Any]:
        self._n += 1
        client = f"c{self._n}"
        fut: asyncio.Future[dict[str, Any]] = self.loop.create_future()
        self._clients[client] = fut
        self.feed(ev.FenceRequest(time.time(), client, target, action, "fencer-host",
                                  timeout_s))
        return await fut

    def fence(self, target: str, action: str = "reboot",
              timeout_s: float | None = None) -> dict[str, Any]:
        """Ask the fencer to ``action`` ``target``; the reply (``ok``, ``exit``, ``op``…)."""
        return self.loop.run_until_complete(self._fence(target, action, timeout_s))

    def close(self) -> None:
        for h in self._timers.values():
            h.cancel()
        for t in self._tasks:
            t.cancel()
        self.loop.close()
