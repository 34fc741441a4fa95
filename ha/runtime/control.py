"""The node daemon's control socket: how the ``ha`` CLI talks to its local daemon.

A unix stream socket, mode 0600 in a 0700 directory, that accepts connections from
root or from the daemon's own user (checked with SO_PEERCRED), as Corosync's IPC
accepts only root by default — and, when the group ``haclient`` exists (Pacemaker's
group for cluster tool users), mode 0660/0750 for that group: its members may query
and update the CIB under the CIB's ACLs, and read membership and quorum. Requests and replies are JSON lines:

    -> {"op": "membership"}
    <- {"ok": true, "ring_id": [1, 8], "state": "OPERATIONAL", ...}

A request that opens a stream (``listen``, ``bench``) gets its first reply and then
event lines until the client closes the connection or the stream ends. A request
that cannot be served gets ``{"ok": false, "error": "..."}`` naming what was wrong.
"""

from __future__ import annotations

import asyncio
import contextlib
import grp
import json
import os
import pwd
import socket
import struct
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

DEFAULT_SOCKET = "/run/hastack/ha.sock"
MAX_REQUEST = 64 << 20     # a whole CIB may travel in one request (cib replace)

Reply = dict[str, Any]
Handler = Callable[[Reply, "Peer"], Awaitable[Reply | AsyncIterator[Reply]]]


class ControlError(RuntimeError):
    """The daemon could not be reached or refused a request."""


def socket_path(explicit: str | None = None) -> str:
    return explicit or os.environ.get("HASTACK_SOCKET") or DEFAULT_SOCKET


CLIENT_GROUP = "haclient"      # Pacemaker's group of users allowed to use the cluster tools
# what a member of haclient may ask; the CIB requests are then subject to its ACLs
CLIENT_OPS = frozenset({"cib_query", "cib_update", "membership", "quorum"})


@dataclass(frozen=True)
class Peer:
    """Who is on the other end of a connection (from SO_PEERCRED)."""

    uid: int
    user: str
    groups: tuple[str, ...]
    privileged: bool          # root or the daemon's own user: no ACLs, every request


def peer_of(sock: socket.socket | None) -> Peer | None:
    """The peer, or None when it may not talk to the daemon at all."""
    if sock is None:
        return None
    try:
        raw = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    except OSError:
        return None
    _pid, uid, gid = struct.unpack("3i", raw)
    try:
        user = pwd.getpwuid(uid).pw_name
        groups = tuple(sorted({grp.getgrgid(g).gr_name for g in os.getgrouplist(user, gid)}))
    except (KeyError, OSError):
        user, groups = str(uid), ()
    if uid in (0, os.getuid()):
        return Peer(uid, user, groups, True)
    if CLIENT_GROUP in groups:
        return Peer(uid, user, groups, False)
    return None


def _client_gid() -> int | None:
    try:
        return grp.getgrnam(CLIENT_GROUP).gr_gid
    except KeyError:
        return None


class ControlServer:
    """Serve JSON-line requests on a unix socket with ``handler``."""

    def __init__(self, path: str, handler: Handler) -> None:
        self.path = path
        self.handler = handler
        self.refused = 0
        self._server: asyncio.AbstractServer | None = None

    async def start(self) -> None:
        parent = os.path.dirname(self.path) or "."
        os.makedirs(parent, mode=0o700, exist_ok=True)
        gid = _client_gid() if os.geteuid() == 0 else None
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)
        old = os.umask(0o177)
        try:
            self._server = await asyncio.start_unix_server(self._client, path=self.path,
                                                           limit=MAX_REQUEST)
        finally:
            os.umask(old)
        os.chmod(self.path, 0o600)
        if gid is not None:
            # members of haclient may connect (their CIB requests are subject to ACLs)
            os.chown(parent, -1, gid)
            os.chmod(parent, 0o750)
            os.chown(self.path, -1, gid)
            os.chmod(self.path, 0o660)

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 1.0)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            peer = peer_of(writer.get_extra_info("socket"))
            if peer is None:
                self.refused += 1
                await self._send(writer, {"ok": False, "error": "permission denied: root, the "
                                          f"daemon's user or members of {CLIENT_GROUP} only"})
                return
            while True:
                try:
                    line = await reader.readline()
                except (asyncio.LimitOverrunError, ValueError):
                    await self._send(writer, {"ok": False, "error": "bad request: over "
                                              f"{MAX_REQUEST >> 20} MiB"})
                    return
                if not line:
                    return
                try:
                    req = json.loads(line)
                    if not isinstance(req, dict) or not isinstance(req.get("op"), str):
                        raise ValueError("expected a JSON object with a string 'op'")
                except ValueError as exc:
                    await self._send(writer, {"ok": False, "error": f"bad request: {exc}"})
                    continue
                if not peer.privileged and req["op"] not in CLIENT_OPS:
                    await self._send(writer, {"ok": False, "exit": 4, "error":
                                              f"permission denied: {req['op']} needs root"})
                    continue
                result = await self.handler(req, peer)
                if isinstance(result, dict):
                    await self._send(writer, result)
                    continue
                await self._stream(reader, writer, result)
                return
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError,
                ValueError):
            return
        except asyncio.CancelledError:
            # The daemon is shutting down: end this client quietly (asyncio's stream
            # callback would otherwise report the cancelled handler as an error).
            return
        finally:
            with contextlib.suppress(Exception):
                writer.close()

    async def _stream(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                      events: AsyncIterator[Reply]) -> None:
        """Forward events until the stream ends or the client hangs up."""
        hangup = asyncio.ensure_future(reader.read(1))
        try:
            async for ev in events:
                if hangup.done():
                    return
                await self._send(writer, ev)
        finally:
            hangup.cancel()
            aclose = getattr(events, "aclose", None)
            if aclose is not None:
                with contextlib.suppress(Exception):
                    await aclose()

    @staticmethod
    async def _send(writer: asyncio.StreamWriter, obj: Reply) -> None:
        writer.write(json.dumps(obj, separators=(",", ":")).encode() + b"\n")
        await writer.drain()


class ControlClient:
    """A blocking client for the CLI."""

    def __init__(self, path: str | None = None, timeout: float | None = 10.0) -> None:
        self.path = socket_path(path)
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        try:
            self.sock.connect(self.path)
        except FileNotFoundError:
            raise ControlError(f"{self.path}: no hastack daemon is listening "
                               "(is `ha node run` running? see --socket)") from None
        except PermissionError:
            raise ControlError(f"{self.path}: permission denied (the control socket is "
                               "root-only)") from None
        except OSError as exc:
            raise ControlError(f"{self.path}: {exc.strerror or exc}") from None
        self._rfile = self.sock.makefile("rb")

    def request(self, op: str, **fields: Any) -> Reply:
        self.sock.sendall(json.dumps({"op": op, **fields}).encode() + b"\n")
        return self.read()

    def read(self) -> Reply:
        try:
            line = self._rfile.readline(MAX_REQUEST)
        except TimeoutError:
            raise ControlError(f"{self.path}: the daemon did not answer in time") from None
        if not line:
            raise ControlError(f"{self.path}: the daemon closed the connection")
        reply = json.loads(line)
        if not isinstance(reply, dict):
            raise ControlError(f"{self.path}: unexpected reply {line[:80]!r}")
        return reply

    def set_timeout(self, timeout: float | None) -> None:
        self.sock.settimeout(timeout)

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._rfile.close()
            self.sock.close()

    def __enter__(self) -> ControlClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
