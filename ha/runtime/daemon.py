"""The node daemon: the asyncio runtime that drives one node's sans-IO cores.

``NodeDaemon`` owns the real world of one node: a UDP socket (udpu style: a multicast
is one datagram per member of the nodelist), the wall and monotonic clocks, a single
timer (the cores' ``next_deadline``), the state directory (the persisted ring
sequence, the packet incarnation), the JSON-lines trace, the log and the control
socket. The protocol is entirely in ``ha.totem.node.TotemNode``, the very object the
simulator drives; this module only carries effects out:

- ``Send`` → encode once (``PacketCodec``: HMAC, optional AES-GCM, fragments) and send
  the same datagrams to one member or to every other member;
- ``Persist`` → write the value to the state directory, atomically;
- ``Trace`` / configuration and quorum changes → trace file and log;
- group events → local listeners on the control socket and the load generator.

A datagram from an address outside the nodelist, or one the codec refuses, is dropped
and counted by reason; nothing a peer sends can raise through the event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ha.runtime.control import ControlServer, Peer, Reply
from ha.runtime.corosync_conf import ClusterConfig, NodeEntry, resolve
from ha.runtime.tracelog import TraceWriter, log
from ha.runtime.wire import PacketCodec
from ha.totem.effects import (
    ConfigurationChange,
    Deliver,
    GroupChange,
    GroupMessage,
    Persist,
    QuorumChange,
    Send,
    Trace,
    change_record,
)
from ha.totem.groups import GroupError
from ha.totem.messages import Message
from ha.totem.node import TotemNode
from ha.totem.quorum import QuorumConfig

if TYPE_CHECKING:
    from ha.runtime.executorservice import ExecutorService
    from ha.runtime.fencerservice import FencerService

SOCKET_BUFFER = 4 << 20
CIB_GROUP = "cib"
SERVICES_DELAY_S = 1.0  # after start: load the executor and fencer (see NodeDaemon)
LISTENER_QUEUE = 10000
PACK_OVERHEAD = 76 + 30 + 29 + 8   # packet header+HMAC+GCM tag, Mcast, inner Mcast, slack


def ring_id_str(ring_id: tuple[int, int] | None) -> str:
    """A ring id as corosync-quorumtool prints it: representative and sequence in hex."""
    if ring_id is None:
        return "-"
    return f"{ring_id[0]:x}.{ring_id[1]:x}"


class StateDir:
    """Small integers kept across restarts (Corosync keeps its ring id the same way)."""

    def __init__(self, path: str) -> None:
        self.path = path
        os.makedirs(path, mode=0o700, exist_ok=True)

    def read(self, key: str, default: int = 0) -> int:
        try:
            with open(os.path.join(self.path, key), encoding="ascii") as fh:
                return int(fh.read().strip() or default)
        except FileNotFoundError:
            return default
        except ValueError:
            log("MAIN", f"{self.path}/{key}: not an integer, starting from {default}",
                logging.WARNING)
            return default

    def write(self, key: str, value: int) -> None:
        final = os.path.join(self.path, key)
        tmp = final + ".tmp"
        with open(tmp, "w", encoding="ascii") as fh:
            fh.write(f"{value}\n")
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, final)


@dataclass
class _Listener:
    group: str
    queue: asyncio.Queue[Reply] = field(default_factory=lambda: asyncio.Queue(LISTENER_QUEUE))
    overflow: int = 0


class _UDP(asyncio.DatagramProtocol):
    def __init__(self, daemon: NodeDaemon) -> None:
        self.daemon = daemon

    def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        self.daemon.on_datagram(data, addr[0])

    def error_received(self, exc: Exception) -> None:
        self.daemon.counters["send_error"] += 1


class NodeDaemon:
    """One node of a hastack cluster on a real network."""

    def __init__(self, cfg: ClusterConfig, *, nodeid: int, key: bytes, state_dir: str,
                 socket_path: str, trace_path: str | None = None,
                 trace_deliveries: bool = False) -> None:
        self.cfg = cfg
        self.me: NodeEntry = cfg.node_by_id(nodeid)
        self.node_id = nodeid
        self.socket_path = socket_path
        self.trace_deliveries = trace_deliveries
        self.peers: dict[int, tuple[str, int]] = {}
        self.addr_to_node: dict[str, int] = {}
        for n in cfg.nodes:
            addr = resolve(n.ring0_addr, ip_version=cfg.ip_version)
            self.peers[n.nodeid] = (addr, cfg.port)
            self.addr_to_node[addr] = n.nodeid
        self.others = [a for nid, a in self.peers.items() if nid != nodeid]
        self.state = StateDir(state_dir)
        self.state_dir = state_dir
        incarnation = max(self.state.read("incarnation") + 1, time.time_ns())
        self.state.write("incarnation", incarnation)
        self.codec = PacketCodec(node_id=nodeid, key=key, cluster_name=cfg.cluster_name,
                                 cipher=cfg.crypto_cipher, mtu=cfg.netmtu,
                                 incarnation=incarnation)
        quorum = cfg.quorum or QuorumConfig(votes={n.nodeid: n.quorum_votes for n in cfg.nodes})
        # Pack small group messages into one Totem message that still fits a datagram
        # when recovery re-sends it encapsulated (outer + inner Mcast headers).
        pack_limit = self.codec.max_datagram - PACK_OVERHEAD
        self.core = TotemNode(nodeid, cfg.totem, quorum, ring_seq=self.state.read("ring_seq"),
                              pack_limit=pack_limit)
        self.core.trace_ordered = trace_deliveries
        self.counters: Counter[str] = Counter()
        self.t0 = 0.0
        self.trace = TraceWriter(trace_path, nodeid, 0.0)
        self.loop: asyncio.AbstractEventLoop | None = None
        self.transport: asyncio.DatagramTransport | None = None
        self.control = ControlServer(socket_path, self.handle)
        self.listeners: list[_Listener] = []
        self.group_refs: Counter[str] = Counter()
        self.group_consumers: list[Callable[[GroupMessage, float], None]] = []
        from ha.runtime.cibservice import CibService

        self.cib = CibService(self, state_dir)
        # the executor and the fencer are loaded once the node has had time to join
        # (their imports take ~60 ms, which a restarting node would otherwise spend
        # before it can answer a join), or at once when a request needs them
        self._executor: ExecutorService | None = None
        self._fencer: FencerService | None = None
        self._quorum_seen: list[bool] = []        # quorum changes before the fencer was up
        self._services_handle: asyncio.TimerHandle | None = None
        self.pump_hooks: list[Callable[[], None]] = []
        self._wake: asyncio.TimerHandle | None = None
        self._wake_us: int | None = None
        self._expiry: asyncio.TimerHandle | None = None
        self._stop = asyncio.Event()
        self.last_regular: ConfigurationChange | None = None
        self._quorate_logged: bool | None = None

    # ---- clock ----------------------------------------------------------------------
    def now_us(self) -> int:
        assert self.loop is not None
        return int(self.loop.time() * 1_000_000)

    # ---- lifecycle ------------------------------------------------------------------
    async def start(self) -> None:
        loop = self.loop = asyncio.get_running_loop()
        self.t0 = loop.time()
        self.trace.t0 = self.t0
        addr = self.peers[self.node_id][0]
        family = socket.AF_INET6 if ":" in addr else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_DGRAM)
        for opt in (socket.SO_RCVBUF, socket.SO_SNDBUF):
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, opt, SOCKET_BUFFER)
        sock.bind((addr, self.cfg.port))
        sock.setblocking(False)
        transport, _ = await loop.create_datagram_endpoint(lambda: _UDP(self), sock=sock)
        self.transport = transport
        await self.control.start()
        members = " ".join(f"{n.nodeid}" for n in self.cfg.nodes)
        log("MAIN", f"hastack node {self.node_id} ({self.me.name or addr}) starting: cluster "
                    f"{self.cfg.cluster_name!r}, {addr}:{self.cfg.port}, nodelist {members}, "
                    f"crypto {self.cfg.crypto_cipher}/hmac-sha256")
        self.trace.write(loop.time(), "start", {"addr": addr, "port": self.cfg.port,
                                                "ring_seq": self.core.srp.ring_id[1]})
        self.apply(self.core.start(self.now_us()))
        self.cib.start()
        self._services_handle = loop.call_later(SERVICES_DELAY_S, self._ensure_services)
        self._expire()
        _sd_notify(b"READY=1")

    def _ensure_services(self) -> tuple[ExecutorService, FencerService]:
        """Load and start the executor and the fencer if they are not yet; the fencer
        is told the quorum changes it missed, in order."""
        if self._executor is None:
            from ha.runtime.executorservice import ExecutorService

            self._executor = ExecutorService(self)   # what self-fencing stops
        if self._fencer is None:
            from ha.runtime.fencerservice import FencerService

            self._fencer = FencerService(self)
            if self.loop is not None:
                self._fencer.start()
                for quorate in self._quorum_seen:
                    self._fencer.on_quorum(quorate)
                self._quorum_seen.clear()
        return self._executor, self._fencer

    @property
    def executor(self) -> ExecutorService:
        return self._ensure_services()[0]

    @property
    def fencer(self) -> FencerService:
        return self._ensure_services()[1]

    async def run(self) -> int:
        await self.start()
        assert self.loop is not None
        for sig in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                self.loop.add_signal_handler(sig, self._stop.set)
        await self._stop.wait()
        await self.shutdown()
        return 0

    def stop(self) -> None:
        self._stop.set()

    async def shutdown(self) -> None:
        _sd_notify(b"STOPPING=1")
        log("MAIN", "shutting down")
        for handle in (self._wake, self._expiry, self._services_handle):
            if handle is not None:
                handle.cancel()
        await self.control.close()
        if self._fencer is not None:
            self._fencer.close()
        if self._executor is not None:
            await self._executor.close()
        if self.transport is not None:
            # Streams still open (a listener whose client is gone) may leave their group
            # as they are cancelled after this: with no transport, that sends nothing.
            transport, self.transport = self.transport, None
            transport.close()
        self.trace.write(self.loop.time() if self.loop else 0.0, "stop", {})
        self.trace.close()

    # ---- the network ----------------------------------------------------------------
    def on_datagram(self, data: bytes, addr: str) -> None:
        nid = self.addr_to_node.get(addr)
        if nid is None:
            self.codec.drop("unknown_address")
            return
        assert self.loop is not None
        msg = self.codec.decode(data, nid, self.loop.time())
        if msg is not None:
            self.apply(self.core.receive(self.now_us(), msg))

    def _send(self, dest: int | None, msg: Message) -> None:
        if dest == self.node_id:
            assert self.loop is not None
            self.loop.call_soon(self._receive_local, msg)
            return
        transport = self.transport
        if transport is None:
            return
        datagrams = self.codec.encode(msg)
        targets = self.others if dest is None else [self.peers[dest]]
        for target in targets:
            for d in datagrams:
                transport.sendto(d, target)

    def _expire(self) -> None:
        """Free partial reassemblies nobody completed, even when traffic has stopped."""
        assert self.loop is not None
        self.codec.expire(self.loop.time())
        self._expiry = self.loop.call_later(1.0, self._expire)

    def _receive_local(self, msg: Message) -> None:
        self.apply(self.core.receive(self.now_us(), msg))

    # ---- timers ---------------------------------------------------------------------
    def _on_wake(self) -> None:
        due = self._wake_us or 0
        self._wake = None
        self._wake_us = None
        self.apply(self.core.tick(max(self.now_us(), due)))

    def _rearm(self) -> None:
        deadline = self.core.next_deadline()
        if deadline == self._wake_us:
            return
        if self._wake is not None:
            self._wake.cancel()
            self._wake = None
        self._wake_us = deadline
        if deadline is not None and self.loop is not None:
            self._wake = self.loop.call_at(deadline / 1_000_000, self._on_wake)

    # ---- effects --------------------------------------------------------------------
    def apply(self, effects: list[Any]) -> None:
        """Carry out a core's effects in order (also used by the load generator)."""
        for e in effects:
            t = type(e)
            if t is Send:
                self._send(e.dest, e.msg)
            elif t is GroupMessage:
                self._on_group_message(e)
            elif t is Trace:
                self._trace(e.event, e.fields)
            elif t is ConfigurationChange:
                self._on_configuration(e)
            elif t is QuorumChange:
                self._on_quorum(e)
            elif t is GroupChange:
                self._on_group_change(e)
            elif t is Persist:
                self.state.write(e.key, e.value)
            elif t is Deliver:
                self.counters["raw_delivered"] += 1
        for hook in self.pump_hooks:
            hook()
        self._rearm()

    def _trace(self, event: str, fields: dict[str, Any]) -> None:
        if self.loop is not None:
            self.trace.write(self.loop.time(), event, fields)

    def _on_configuration(self, e: ConfigurationChange) -> None:
        self.cib.on_configuration(e.transitional, e.ring_id[1], e.members)
        self._trace(*change_record(e))
        if e.transitional:
            return
        self.last_regular = e
        msg = f"A new membership ({ring_id_str(e.ring_id)}) was formed."
        if e.joined:
            msg += " Members joined: " + " ".join(map(str, e.joined))
        if e.left:
            msg += " Members left: " + " ".join(map(str, e.left))
        log("TOTEM", msg)
        log("TOTEM", f"Members[{len(e.members)}]: " + " ".join(map(str, e.members)))

    def _on_quorum(self, e: QuorumChange) -> None:
        self.cib.on_quorum(e.quorate)
        if self._fencer is None:
            self._quorum_seen.append(e.quorate)
        else:
            self._fencer.on_quorum(e.quorate)
        if e.quorate == self._quorate_logged:
            return
        self._quorate_logged = e.quorate
        if e.quorate:
            log("QUORUM", "This node is within the primary component and will provide service.")
        else:
            log("QUORUM", "This node is within the non-primary component and will NOT "
                          "provide any services.")

    def _on_group_change(self, e: GroupChange) -> None:
        event, fields = change_record(e)
        self._trace(event, fields)
        if e.group == CIB_GROUP:
            self.cib.on_group_change(e.members, e.joined, e.left)
        elif self._fencer is not None and e.group == self._fencer.group:
            self._fencer.on_group_change(e.members, e.joined, e.left)
        self._to_listeners(e.group, {"event": event, **fields})

    def _on_group_message(self, e: GroupMessage) -> None:
        if e.group == CIB_GROUP:
            self.cib.on_message(e.sender, e.payload)
            return
        if self.group_consumers:
            now = time.time()
            for consumer in self.group_consumers:
                consumer(e, now)
        if self.trace_deliveries:
            self._trace("group_message", {"group": e.group, "sender": e.sender,
                                          "ring_id": list(e.ring_id), "seq": e.seq,
                                          "size": len(e.payload)})
        if any(li.group == e.group for li in self.listeners):
            self._to_listeners(e.group, {
                "event": "message", "group": e.group, "sender": e.sender,
                "ring_id": list(e.ring_id), "seq": e.seq,
                "data": e.payload.decode("utf-8", errors="backslashreplace")})

    def _to_listeners(self, group: str, ev: Reply) -> None:
        for li in self.listeners:
            if li.group != group:
                continue
            try:
                li.queue.put_nowait(ev)
            except asyncio.QueueFull:
                li.overflow += 1
                self.counters["listener_overflow"] += 1

    # ---- local requests -------------------------------------------------------------
    def group_ref(self, group: str) -> None:
        """A local user of ``group`` arrived; the node joins it with the first one."""
        self.group_refs[group] += 1
        if self.group_refs[group] == 1 and group not in self.core.groups.local:
            self.apply(self.core.join(self.now_us(), group))

    def group_unref(self, group: str) -> None:
        self.group_refs[group] -= 1
        if self.group_refs[group] <= 0:
            del self.group_refs[group]
            if group in self.core.groups.local:
                self.apply(self.core.leave(self.now_us(), group))

    def group_send(self, group: str, data: bytes, safe: bool = False) -> None:
        self.apply(self.core.send(self.now_us(), group, data, safe))

    async def handle(self, req: Reply, peer: Peer | None = None) -> Reply | AsyncIterator[Reply]:
        from ha.runtime.requests import serve  # the request table, kept apart for size

        try:
            if str(req["op"]).startswith("stonith_"):
                return await self.fencer.handle(req)
            if str(req["op"]).startswith("resource_"):
                return await self.executor.handle(req)
            return await serve(self, req, peer)
        except (GroupError, ValueError, KeyError, TypeError) as exc:
            return {"ok": False, "error": f"{req.get('op')}: {exc}"}

    def stats(self) -> Reply:
        dropped: Counter[str] = Counter(self.codec.drops)
        other: dict[str, int] = {}
        for k, v in self.core.stats.items():
            if k.startswith("dropped_"):
                dropped[k[len("dropped_"):]] += v
            else:
                other[k] = v
        return {"ok": True, "node_id": self.node_id, "dropped": dict(sorted(dropped.items())),
                "dropped_total": sum(dropped.values()), "packets": dict(self.codec.stats),
                "protocol": other, "daemon": dict(self.counters)}


def _sd_notify(state: bytes) -> None:
    """Tell systemd (Type=notify) where we are, when it asked through NOTIFY_SOCKET."""
    path = os.environ.get("NOTIFY_SOCKET")
    if not path:
        return
    if path.startswith("@"):
        path = "\0" + path[1:]
    with contextlib.suppress(OSError), socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as s:
        s.sendto(state, path)
