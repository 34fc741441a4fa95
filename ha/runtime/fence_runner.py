"""Running one fence agent for real: a child process fed the stdin protocol.

``run_fence_agent`` starts the agent (a bare name is looked up in ``/usr/sbin``, where
Debian's fence-agents installs them, then on ``PATH``) in a new session — its own
process group — writes :func:`ha.fencing.agent.agent_stdin` to its standard input,
collects standard output and error, and waits at most ``timeout`` seconds. On timeout
the whole process group is killed (SIGTERM, then SIGKILL after a short grace), as
Pacemaker's fencer kills an agent that overran its ``pcmk_<action>_timeout``: agents
such as fence_ipmilan leave children (ipmitool) that must not outlive the action.

The result is the agent's exit status (or -1 when it was killed or could not start),
its output, whether it timed out, and how long it took (monotonic seconds).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import time
from dataclasses import dataclass

from ha.fencing.agent import agent_stdin

AGENT_DIR = "/usr/sbin"            # Pacemaker's RH_STONITH_DIR on Debian
KILL_GRACE_S = 0.5
OUTPUT_LIMIT = 1 << 20             # a runaway agent's output is cut here


@dataclass(frozen=True)
class FenceResult:
    rc: int
    stdout: str
    stderr: str
    timed_out: bool
    elapsed: float

    def as_json(self) -> dict[str, object]:
        return {"rc": self.rc, "stdout": self.stdout, "stderr": self.stderr,
                "timed_out": self.timed_out, "elapsed": round(self.elapsed, 6)}


def agent_path(agent: str) -> str | None:
    """The executable for ``agent`` (a path, or a name in /usr/sbin or on PATH)."""
    if os.sep in agent:
        return agent if os.access(agent, os.X_OK) else None
    if not agent.startswith("fence_") or agent in (".", ".."):
        return None
    candidate = os.path.join(AGENT_DIR, agent)
    if os.access(candidate, os.X_OK):
        return candidate
    return shutil.which(agent)


def installed_agents(directory: str = AGENT_DIR) -> list[str]:
    """The fence agents installed, as ``stonith_admin --list-installed`` lists them."""
    try:
        names = os.listdir(directory)
    except OSError:
        return []
    return sorted(n for n in names if n.startswith("fence_") and not n.endswith((".py", ".pyc"))
                  and os.access(os.path.join(directory, n), os.X_OK)
                  and os.path.isfile(os.path.join(directory, n)))


def _kill_group(pid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)


async def _read(stream: asyncio.StreamReader | None) -> bytes:
    if stream is None:
        return b""
    data = bytearray()
    while chunk := await stream.read(65536):
        # past the limit the rest is drained (the agent must never block on a full pipe)
        if len(data) < OUTPUT_LIMIT:
            data += chunk[:OUTPUT_LIMIT - len(data)]
    return bytes(data)


async def run_fence_agent(agent: str, params: dict[str, str], action: str,
                          target: str | None = None, *, timeout: float,
                          host_arg: str | None = None) -> FenceResult:
    """Run ``agent`` once with ``action`` against ``target`` (see the module docstring)."""
    start = time.monotonic()
    try:
        text = agent_stdin(params, action, target, host_arg)
    except ValueError as e:
        return FenceResult(-1, "", f"{agent}: {e}", False, time.monotonic() - start)
    path = agent_path(agent)
    if path is None:
        return FenceResult(-1, "", f"{agent}: no such fence agent", False,
                           time.monotonic() - start)
    try:
        proc = await asyncio.create_subprocess_exec(
            path, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE, start_new_session=True)
    except OSError as e:
        return FenceResult(-1, "", f"{agent}: {e.strerror or e}", False, time.monotonic() - start)
    assert proc.stdin is not None

    async def talk() -> tuple[bytes, bytes]:
        assert proc.stdin is not None
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            proc.stdin.write(text.encode())
            await proc.stdin.drain()
        with contextlib.suppress(BrokenPipeError, ConnectionResetError, OSError):
            proc.stdin.close()
        out, err = await asyncio.gather(_read(proc.stdout), _read(proc.stderr))
        await proc.wait()
        return out, err

    task = asyncio.ensure_future(talk())
    timed_out = False
    try:
        out, err = await asyncio.wait_for(asyncio.shield(task), timeout=max(timeout, 0.0))
    except TimeoutError:
        timed_out = True
        _kill_group(proc.pid, signal.SIGTERM)
        try:
            out, err = await asyncio.wait_for(asyncio.shield(task), KILL_GRACE_S)
        except TimeoutError:
            _kill_group(proc.pid, signal.SIGKILL)
            out, err = await task
    except asyncio.CancelledError:
        _kill_group(proc.pid, signal.SIGKILL)
        with contextlib.suppress(Exception):
            await asyncio.wait_for(task, KILL_GRACE_S)
        raise
    # the agent may have exited leaving children in its group: they go with it
    _kill_group(proc.pid, signal.SIGKILL)
    rc = -1 if timed_out or proc.returncode is None else proc.returncode
    return FenceResult(rc, out.decode("utf-8", "replace"), err.decode("utf-8", "replace"),
                       timed_out, time.monotonic() - start)


def run_fence_agent_sync(agent: str, params: dict[str, str], action: str,
                         target: str | None = None, *, timeout: float,
                         host_arg: str | None = None) -> FenceResult:
    """:func:`run_fence_agent` for callers without an event loop (the CLI, tests)."""
    return asyncio.run(run_fence_agent(agent, params, action, target, timeout=timeout,
                                       host_arg=host_arg))
