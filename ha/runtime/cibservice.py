"""The CIB in the node daemon: the ``CibReplica`` core, its store, and the requests.

At start the daemon loads ``<state-dir>/cib/cib.xml`` (a corrupt or digest-mismatched
file is refused with a clear log line, kept aside by the store, and the node starts
empty — version 0.0.0 — so that it takes the cluster's copy at the first sync) and
joins the process group ``cib``. Group events of ``cib`` and quorum changes go to the
replica; what it sends is multicast in the group, what it persists is written through
the store (atomically, fsync'd), and replies wake the client waiting for them.

Requests: ``cib_query`` (``xpath``), ``cib_update`` (``cib_op``, ``args``, ``xml``,
``force``). Peers that are not root (members of ``haclient``) get Pacemaker's ACLs:
queries are filtered to what they may read, writes refused unless they may make every
change (exit code 4, as Pacemaker's insufficient privileges). An update waits until it comes back in the agreed order (applied on every
replica of the configuration) and is retried while a sync is in progress.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ha.cib import ops
from ha.cib.acl import Acl, AclDenied, AclError, check_write, filter_read
from ha.cib.replica import GROUP, CibReplica, Out, Persist, Reply, Send
from ha.cib.store import CibStore, CorruptCib
from ha.cib.xml import CibError
from ha.runtime.control import Peer
from ha.runtime.tracelog import log

if TYPE_CHECKING:
    from ha.runtime.daemon import NodeDaemon

SYNC_RETRIES = 50
EXIT_PRIV = 4          # Pacemaker's CRM_EX_INSUFFICIENT_PRIV
UPDATE_TIMEOUT_S = 30.0


class CibService:
    def __init__(self, daemon: NodeDaemon, state_dir: str) -> None:
        self.d = daemon
        self.store_dir = os.path.join(state_dir, "cib")
        self.store = CibStore(self.store_dir)
        data: bytes | None = None
        ring = 0
        try:
            data = self.store.load()
            ring = int(self._ring_file().read_text().strip() or 0) if data else 0
        except CorruptCib as e:
            log("CIB", f"refused the local CIB: {e}; starting empty to take the cluster's copy")
        except (OSError, ValueError):
            ring = 0
        uname = daemon.cfg.node_by_id(daemon.node_id).name or f"node{daemon.node_id}"
        self.replica = CibReplica.from_disk(daemon.node_id, uname, data,
                                            session=daemon.codec.incarnation,
                                            cluster_size=len(daemon.cfg.nodes), ring=ring)
        self.waiting: dict[str, asyncio.Future[Reply]] = {}

    def _ring_file(self) -> Path:
        """The ring of the CIB's last counted change (a sync tie-break), beside cib.xml."""
        return Path(self.store_dir) / "cib.ring"

    def start(self) -> None:
        self.d.group_ref(GROUP)

    # ---- events from the daemon -----------------------------------------------------
    def on_quorum(self, quorate: bool) -> None:
        self.replica.set_quorate(quorate)

    def on_configuration(self, transitional: bool, ring_seq: int,
                         members: tuple[int, ...]) -> None:
        self.replica.on_configuration(transitional, ring_seq, members)

    def on_group_change(self, members: tuple[int, ...], joined: tuple[int, ...],
                        left: tuple[int, ...]) -> None:
        self._do(self.replica.on_group_change(members, joined, left))

    def on_message(self, sender: int, payload: bytes) -> None:
        self._do(self.replica.on_message(sender, payload))

    def _do(self, outs: list[Out]) -> None:
        for o in outs:
            if isinstance(o, Send):
                self.d.group_send(GROUP, o.payload, o.safe)
            elif isinstance(o, Persist):
                try:
                    self.store.save(o.data)
                    tmp = self._ring_file().with_suffix(".tmp")
                    tmp.write_text(f"{o.ring}\n")
                    os.replace(tmp, self._ring_file())
                except (OSError, ValueError) as e:
                    log("CIB", f"could not write the CIB: {e}")
            elif isinstance(o, Reply):
                fut = self.waiting.pop(o.request_id, None)
                if fut is not None and not fut.done():
                    fut.set_result(o)

    # ---- requests -------------------------------------------------------------------
    def _acl(self, peer: Peer | None) -> Acl | None:
        """The peer's ACL (None: unrestricted — root, the daemon's user, hacluster, or
        ACLs not enabled)."""
        if peer is None or peer.privileged:
            return None
        return Acl.for_user(self.replica.root, peer.user, peer.groups)

    def query(self, xpath: str | None, peer: Peer | None = None) -> dict[str, Any]:
        try:
            acl = self._acl(peer)
            root = self.replica.root if acl is None else filter_read(acl, self.replica.root)
            xml = ops.query(root, xpath)
        except AclDenied as e:
            return {"ok": False, "error": f"permission denied: {e}", "exit": EXIT_PRIV}
        except (LookupError, AclError) as e:
            return {"ok": False, "error": str(e), "exit": 105 if isinstance(e, LookupError) else 1}
        return {"ok": True, "xml": xml.decode(), "syncing": self.replica.syncing}

    def _check_acl(self, op: str, args: dict[str, Any], body: bytes,
                   peer: Peer | None) -> dict[str, Any] | None:
        """Refuse a write the peer's ACL does not allow (checked on this node's copy
        before the update travels, as Pacemaker checks on the node the client is on)."""
        try:
            acl = self._acl(peer)
            if acl is None:
                return None
            new, _ = ops.apply(self.replica.root, op, args, body)
            if new is not None:
                check_write(acl, self.replica.root, new)
        except AclDenied as e:
            return {"ok": False, "error": f"permission denied: {e}", "exit": EXIT_PRIV}
        except (CibError, ValueError, LookupError) as e:
            return {"ok": False, "error": str(e)}
        return None

    async def update(self, op: str, args: dict[str, Any], body: bytes,
                     force: bool, peer: Peer | None = None) -> dict[str, Any]:
        if force and peer is not None and not peer.privileged:
            return {"ok": False, "error": "permission denied: --force needs root", "exit": EXIT_PRIV}
        refused = self._check_acl(op, args, body, peer)
        if refused is not None:
            return refused
        loop = asyncio.get_running_loop()
        for attempt in range(SYNC_RETRIES):
            rid, outs = self.replica.request(op, args, body, force)
            fut: asyncio.Future[Reply] = loop.create_future()
            self.waiting[rid] = fut
            self._do(outs)
            try:
                reply = await asyncio.wait_for(fut, UPDATE_TIMEOUT_S)
            except TimeoutError:
                self.waiting.pop(rid, None)
                return {"ok": False, "error": f"{op}: no answer within {UPDATE_TIMEOUT_S:.0f} s "
                                              "(is the node in a ring?)"}
            finally:
                with contextlib.suppress(KeyError):
                    del self.waiting[rid]
            if reply.ok or not reply.detail.startswith("sync in progress") or attempt == SYNC_RETRIES - 1:
                return {"ok": reply.ok, "detail" if reply.ok else "error": reply.detail}
            await asyncio.sleep(0.1)
        return {"ok": False, "error": f"{op}: sync did not finish"}
