"""``docker exec`` through the Engine API, with standard input, a timeout, and the
exit code: what ``subprocess.run`` gives for a local command.

The attach stream of a non-tty exec is multiplexed: frames of an 8-byte header
(stream 1 = stdout, 2 = stderr; 3 zero bytes; big-endian length) and the payload.
Standard input goes on the same hijacked connection, and a half-close of it closes
the process's standard input.
"""

from __future__ import annotations

import contextlib
import os
import select
import shlex
import signal
import socket
import struct
import subprocess
import time
from collections.abc import Sequence
from typing import Any


class DockerError(RuntimeError):
    """A Docker operation failed; the message names the node or cluster and the step."""


def _raw(sock: Any) -> socket.socket:
    """The socket under what ``exec_start(socket=True)`` returns (SocketIO on unix)."""
    return getattr(sock, "_sock", sock)  # type: ignore[no-any-return]


def _demux(data: bytes) -> tuple[bytes, bytes, bytes]:
    """Split whole frames off ``data``: (stdout, stderr, the incomplete rest)."""
    out, err = bytearray(), bytearray()
    while len(data) >= 8:
        kind, size = data[0], struct.unpack(">I", data[4:8])[0]
        if len(data) < 8 + size:
            break
        (err if kind == 2 else out).extend(data[8:8 + size])
        data = data[8 + size:]
    return bytes(out), bytes(err), data


def exec_in(api: Any, container: str, label: str, argv: Sequence[str], *, timeout: float = 30.0,
            input: str | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``argv`` in ``container`` (``label`` names it in errors, e.g. ``n2``).

    DockerError when the exec cannot start (container stopped, paused, missing) or does
    not finish within ``timeout`` s (the process is then killed when the engine is local).
    """
    cmd = shlex.join(argv)
    try:
        eid = api.exec_create(container, list(argv), stdin=input is not None, stdout=True,
                              stderr=True)["Id"]
        conn = api.exec_start(eid, socket=True)
    except Exception as exc:
        raise DockerError(f"{label}: cannot run `{cmd}`: "
                          f"{getattr(exc, 'explanation', None) or exc}") from None
    sock = _raw(conn)
    deadline = time.monotonic() + timeout
    buf, out, err = b"", bytearray(), bytearray()
    try:
        if input is not None:
            sock.sendall(input.encode())
            sock.shutdown(socket.SHUT_WR)
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                _kill(api, eid)
                raise DockerError(f"{label}: `{cmd}` did not finish in {timeout:g} s")
            ready, _, _ = select.select([sock], [], [], left)
            if not ready:
                continue
            chunk = sock.recv(65536)
            if not chunk:
                break
            o, e, buf = _demux(buf + chunk)
            out += o
            err += e
    finally:
        for c in (conn, sock):
            with contextlib.suppress(OSError):
                c.close()
    code = _exit_code(api, eid, deadline)
    if code is None:
        raise DockerError(f"{label}: `{cmd}` did not finish in {timeout:g} s")
    return subprocess.CompletedProcess(list(argv), code, out.decode(errors="replace"),
                                       err.decode(errors="replace"))


def _exit_code(api: Any, eid: str, deadline: float) -> int | None:
    """The exit code once the engine has recorded it (it may lag the stream's end)."""
    while True:
        info = api.exec_inspect(eid)
        if not info.get("Running"):
            return int(info.get("ExitCode") or 0)
        if time.monotonic() >= deadline:
            return None
        time.sleep(0.01)


def _kill(api: Any, eid: str) -> None:
    with contextlib.suppress(Exception):
        pid = int(api.exec_inspect(eid).get("Pid") or 0)
        if pid > 0 and api.base_url.startswith("http+docker://localhost"):
            os.kill(pid, signal.SIGKILL)
