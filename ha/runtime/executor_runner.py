"""The executor in the real world: agents as child processes, asyncio's clock.

``ExecutorRunner`` drives an :class:`ha.executor.Executor` core and carries out its
effects:

- ``RunAgent`` → the agent is spawned in a new session (``setsid``: its own process
  group, no controlling terminal), stdin from /dev/null, stdout and stderr captured
  (each up to ``output_limit`` bytes; the rest is read and dropped), cwd ``/``, with
  the runner's base environment (this process's, without inherited ``OCF_*``
  variables) plus the core's variables. When the agent exits its pipes are drained
  briefly — a daemon it left behind may hold them open forever — and the exit is fed
  back to the core;
- ``KillAgent`` → ``killpg`` of that call's process group (SIGTERM, then SIGKILL);
- ``ActionResult`` → the future of the call and every result listener;
- ``Trace`` → the trace callback (the daemon's JSON-lines trace), with ``now``.

One timer, set to the core's ``next_deadline``, calls ``tick``. The clock is the
event loop's (monotonic). It is usable standalone (``ha resource op``, the
benchmark, tests) and hostable by the node daemon on its loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from collections.abc import Callable, Mapping
from typing import Any

from ha.executor.core import Executor
from ha.executor.events import (
    ActionResult,
    AgentExited,
    AgentFailedToRun,
    CancelRecurring,
    Effect,
    Event,
    KillAgent,
    Request,
    RunAgent,
    Trace,
)
from ha.runtime.tracelog import log

OUTPUT_LIMIT = 256 * 1024
DRAIN_S = 0.2          # how long an exited agent's pipes are read before giving up
REAP_S = 2.0   # how long close() waits for a killed agent to be reaped
TraceSink = Callable[[float, str, dict[str, Any]], None]


def default_action_limit() -> int:
    """``PCMK_node_action_limit`` if set, else twice the CPUs (Pacemaker's default)."""
    raw = os.environ.get("PCMK_node_action_limit", "")  # noqa: SIM112 (Pacemaker spells it so)
    if raw.strip().isdigit() and int(raw) > 0:
        return int(raw)
    return 2 * (os.cpu_count() or 1)


def base_environment() -> dict[str, str]:
    """This process's environment without OCF variables (an agent gets only its own)."""
    return {k: v for k, v in os.environ.items()
            if not k.startswith("OCF_") and not k.startswith("PCMK_")}


class ExecutorRunner:
    def __init__(self, executor: Executor, *, trace: TraceSink | None = None,
                 base_env: Mapping[str, str] | None = None,
                 output_limit: int = OUTPUT_LIMIT) -> None:
        self.core = executor
        self.trace = trace
        self.base_env = dict(base_env) if base_env is not None else base_environment()
        self.output_limit = output_limit
        self.listeners: list[Callable[[ActionResult], None]] = []
        self.pids: dict[int, int] = {}           # call_id -> process group id
        self._early_kills: dict[int, int] = {}   # signals sent before the spawn finished
        self._futures: dict[int, asyncio.Future[ActionResult]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._timer: asyncio.TimerHandle | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        if self._loop is None:
            self._loop = asyncio.get_running_loop()
        return self._loop

    def now(self) -> float:
        return self.loop.time()

    # ---- requests --------------------------------------------------------------------
    def submit(self, req: Request) -> tuple[int, asyncio.Future[ActionResult]]:
        """Queue ``req``; its call id and a future of its (first) result."""
        call_id, effects = self.core.submit(req, self.now())
        fut: asyncio.Future[ActionResult] = self.loop.create_future()
        self._futures[call_id] = fut
        self._apply(effects)
        return call_id, fut

    async def run(self, req: Request) -> ActionResult:
        """Run one action and wait for its result."""
        return await self.submit(req)[1]

    def cancel(self, rsc_id: str, action: str, interval_ms: int) -> None:
        self.step(CancelRecurring(rsc_id, action, interval_ms))

    def step(self, event: Event) -> None:
        self._apply(self.core.step(event, self.now()))

    async def close(self) -> None:
        """Kill every agent still running (its whole group) and stop the timer."""
        if self._timer is not None:
            self._timer.cancel()
        for pgid in list(self.pids.values()):
            _killpg(pgid, signal.SIGKILL)
        for task in list(self._tasks):
            task.cancel()
        with contextlib.suppress(Exception):
            await asyncio.gather(*self._tasks, return_exceptions=True)

    # ---- effects ---------------------------------------------------------------------
    def _apply(self, effects: list[Effect]) -> None:
        for eff in effects:
            if isinstance(eff, RunAgent):
                task = self.loop.create_task(self._spawn(eff))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
            elif isinstance(eff, KillAgent):
                pgid = self.pids.get(eff.call_id)
                sig = getattr(signal, eff.signal)
                if pgid is not None:
                    _killpg(pgid, sig)
                else:                            # still spawning: kill it once it exists
                    self._early_kills[eff.call_id] = sig
            elif isinstance(eff, ActionResult):
                self.pids.pop(eff.call_id, None)
                self._early_kills.pop(eff.call_id, None)
                fut = self._futures.pop(eff.call_id, None)
                if fut is not None and not fut.done():
                    fut.set_result(eff)
                for listener in list(self.listeners):
                    try:
                        listener(eff)
                    except Exception as exc:     # a listener's bug must not stop the executor
                        log("EXEC", f"result listener {listener!r} failed: {exc!r}",
                            logging.ERROR)
            elif isinstance(eff, Trace) and self.trace is not None:
                self.trace(self.now(), eff.event, eff.fields)
        self._rearm()

    def _rearm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        deadline = self.core.next_deadline()
        if deadline is not None:
            self._timer = self.loop.call_at(deadline, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        self._apply(self.core.tick(self.now()))

    async def _spawn(self, eff: RunAgent) -> None:
        try:
            proc = await asyncio.create_subprocess_exec(
                *eff.argv, env={**self.base_env, **eff.env}, cwd="/",
                stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE, start_new_session=True)
        except (FileNotFoundError, PermissionError) as exc:
            self.step(AgentFailedToRun(eff.call_id, f"{eff.argv[0]}: {exc.strerror}",
                                       missing=True))
            return
        except OSError as exc:
            self.step(AgentFailedToRun(eff.call_id, f"{eff.argv[0]}: {exc.strerror or exc}"))
            return
        self.pids[eff.call_id] = proc.pid
        if eff.call_id in self._early_kills:
            _killpg(proc.pid, self._early_kills.pop(eff.call_id))
        out, err = bytearray(), bytearray()
        assert proc.stdout is not None and proc.stderr is not None
        readers = {self.loop.create_task(self._read(proc.stdout, out)),
                   self.loop.create_task(self._read(proc.stderr, err))}
        try:
            code = await proc.wait()
            _done, pending = await asyncio.wait(readers, timeout=DRAIN_S)
            for task in pending:
                task.cancel()
        except asyncio.CancelledError:
            for task in readers:
                task.cancel()
            # reap the (killed) agent while the loop still runs, so its transport is
            # closed now and not finalised after the loop has gone
            _killpg(proc.pid, signal.SIGKILL)
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await asyncio.wait_for(proc.wait(), REAP_S)
            raise
        self.step(AgentExited(eff.call_id, code, out.decode("utf-8", "replace"),
                              err.decode("utf-8", "replace")))

    async def _read(self, stream: asyncio.StreamReader, into: bytearray) -> None:
        while True:
            chunk = await stream.read(65536)
            if not chunk:
                return
            room = self.output_limit - len(into)
            if room > 0:
                into += chunk[:room]


def _killpg(pgid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)
