"""What the control socket answers: one function per request ``op``.

- ``membership`` — ring id, Totem state, members (with names and addresses);
- ``quorum`` — votequorum's view, the fields ``corosync-quorumtool -s`` prints;
- ``stats`` — packets sent and received, every dropped packet by reason;
- ``groups`` — the process groups this node knows and their members;
- ``send`` — a message to a process group, in total order;
- ``listen`` — join a process group and stream its changes and messages;
- ``bench`` — the ``cpgbench``-like load generator (see ``ha.runtime.loadgen``);
- ``cib_query``, ``cib_update`` — the CIB (see ``ha.runtime.cibservice``).
"""

from __future__ import annotations

import base64
import contextlib
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from ha.runtime.control import Peer, Reply

if TYPE_CHECKING:
    from ha.runtime.daemon import NodeDaemon


def _members(d: NodeDaemon, ids: tuple[int, ...] | list[int]) -> list[Reply]:
    out = []
    for nid in ids:
        n = d.cfg.node_by_id(nid)
        out.append({"nodeid": nid, "name": n.name, "addr": d.peers[nid][0],
                    "votes": n.quorum_votes, "local": nid == d.node_id})
    return out


def membership(d: NodeDaemon) -> Reply:
    core = d.core
    last = d.last_regular
    return {"ok": True, "cluster_name": d.cfg.cluster_name, "node_id": d.node_id,
            "ring_id": list(core.ring_id), "state": core.state.name,
            "members": _members(d, core.members),
            "last_change": None if last is None else {
                "ring_id": list(last.ring_id), "joined": list(last.joined),
                "left": list(last.left)}}


def quorum(d: NodeDaemon) -> Reply:
    q = d.core.quorum_state
    qc = d.core.quorum.config
    highest = d.core.quorum.highest_expected
    return {"ok": True, "provider": "corosync_votequorum" if d.cfg.quorum else "none",
            "node_id": d.node_id, "nodes": len(q.members),
            "ring_id": list(q.ring_id) if q.ring_id else None, "quorate": q.quorate,
            "expected_votes": q.expected_votes, "highest_expected": highest,
            "total_votes": q.total_votes, "quorum": q.quorum, "flags": list(q.flags),
            "members": _members(d, q.members), "two_node": qc.two_node}


def _data(req: Reply) -> bytes:
    if "data_b64" in req:
        return base64.b64decode(req["data_b64"], validate=True)
    data = req.get("data")
    if not isinstance(data, str):
        raise ValueError("expected 'data' (text) or 'data_b64'")
    return data.encode()


def _group(req: Reply) -> str:
    group = req.get("group")
    if not isinstance(group, str):
        raise ValueError("expected a string 'group'")
    return group


async def listen(d: NodeDaemon, group: str) -> AsyncIterator[Reply]:
    from ha.runtime.daemon import _Listener

    li = _Listener(group)
    d.listeners.append(li)
    d.group_ref(group)
    try:
        yield {"ok": True, "event": "listening", "group": group, "node_id": d.node_id,
               "members": list(d.core.groups.view(group))}
        while True:
            ev = await li.queue.get()
            yield ev
    finally:
        with contextlib.suppress(ValueError):
            d.listeners.remove(li)
        d.group_unref(group)


async def serve(d: NodeDaemon, req: Reply, peer: Peer | None = None) -> Reply | AsyncIterator[Reply]:
    op = req["op"]
    if op == "membership":
        return membership(d)
    if op == "quorum":
        return quorum(d)
    if op == "stats":
        return d.stats()
    if op == "groups":
        g = d.core.groups
        return {"ok": True, "groups": {name: list(g.view(name)) for name in sorted(g.members)
                                       if g.members[name]},
                "local": sorted(g.local)}
    if op == "send":
        group = _group(req)
        d.group_send(group, _data(req), bool(req.get("safe", False)))
        return {"ok": True, "group": group}
    if op == "listen":
        return listen(d, _group(req))
    if op == "cib_query":
        xp = req.get("xpath")
        return d.cib.query(xp if isinstance(xp, str) else None, peer)
    if op == "cib_update":
        cargs = req.get("args") or {}
        if not isinstance(cargs, dict):
            raise ValueError("expected 'args' to be an object")
        body = str(req.get("xml") or "").encode()
        return await d.cib.update(str(req.get("cib_op")), cargs, body, bool(req.get("force")),
                                  peer)
    if op == "bench":
        from ha.runtime.loadgen import GroupLoad

        args: dict[str, Any] = {k: req[k] for k in ("size", "duration", "send", "rate",
                                                    "members", "senders", "timeout")
                                if k in req}
        return await GroupLoad(d, _group(req), **args).run()
    return {"ok": False, "error": f"unknown op {op!r} (expected membership, quorum, stats, "
                                  "groups, send, listen, bench, cib_query or cib_update)"}
