"""kill -9 a CIB writer at random moments, 1,000 times: 0 corrupt CIBs, 0 lost updates.

Each round forks a fresh writer process (tests/integration/cib_writer.py, through its
fork server) on the same directory, continuing the epochs: CIB i has epoch i, and the
writer prints ``ack i`` once ``CibStore.save()`` has returned. The test waits for 0 or 1
ack, then for a random delay (mostly from zero to 1.25 times the measured length of a
save, so that the kill lands anywhere in ``save()`` whatever the disk's speed; sometimes
aimed at the commit, see ``Aim``), sends SIGKILL, and loads the directory with a new
``CibStore``. It must load (no ``CorruptCib``), and the files must check out
independently of the store (cib.xml is well-formed XML whose MD5 is what cib.xml.sig
says; no temp file left; at most 10 backups, each with a signature verifying); the
epoch must be at least the last acknowledged one (no acknowledged update lost) and at
most one more (the save that committed before its ack). Where each kill landed is
judged from the files before loading, and counted in the summary.

What this proves: the write protocol is crash-consistent against process death. A
killed process loses nothing the kernel already has, so the fsyncs are not exercised
here; durability against power loss rests on them (see ha/cib/store.py).

``HASTACK_CIB_KILLS`` (default 1000) and ``HASTACK_CIB_KILL_SEED`` change the run; a
failure prints both. The seed fixes the payloads and the delays, not the scheduler: a
replay repeats the experiment, not the exact kill points.
"""

from __future__ import annotations

import hashlib
import os
import random
import select
import signal
import statistics
import subprocess
import sys
import time
from collections import Counter, deque
from pathlib import Path

from lxml import etree

from ha.cib.store import CibStore, CorruptCib, why_refused

KILLS = int(os.environ.get("HASTACK_CIB_KILLS", "1000"))
SEED = int(os.environ.get("HASTACK_CIB_KILL_SEED", "20261125"))
WRITER = Path(__file__).with_name("cib_writer.py")
READ_TIMEOUT_S = 30.0


class WriterServer:
    """The fork server of cib_writer.py, read line by line with a timeout."""

    def __init__(self, stderr_path: Path) -> None:
        self.stderr_path = stderr_path
        self._stderr = stderr_path.open("wb")
        self.proc = subprocess.Popen([sys.executable, str(WRITER), "--serve"],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=self._stderr)
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self._stdin = self.proc.stdin
        self._fd = self.proc.stdout.fileno()
        self._buffer = b""

    def run(self, directory: Path, start_epoch: int, seed: int) -> int:
        self._stdin.write(f"run {directory} {start_epoch} {seed}\n".encode())
        self._stdin.flush()
        word, pid = self.line()
        assert word == "pid", (word, pid, self.stderr())
        return int(pid)

    def line(self) -> tuple[str, str]:
        while b"\n" not in self._buffer:
            ready, _, _ = select.select([self._fd], [], [], READ_TIMEOUT_S)
            chunk = os.read(self._fd, 65536) if ready else b""
            assert chunk, f"writer server silent or gone; stderr: {self.stderr()}"
            self._buffer += chunk
        line, self._buffer = self._buffer.split(b"\n", 1)
        word, _, rest = line.decode().partition(" ")
        return word, rest

    def stderr(self) -> str:
        self._stderr.flush()
        return self.stderr_path.read_text(errors="replace")[-2000:]

    def close(self) -> None:
        self._stdin.close()
        self.proc.wait(timeout=10)
        self._stderr.close()


def disk_state(directory: Path) -> str:
    """Where in save() the kill landed, judged from the files alone (before loading)."""
    names = set(os.listdir(directory)) if directory.exists() else set()
    if "cib.xml.sig.new" in names:
        return "temps written (archiving or before commit)"
    if "cib.xml.new" not in names:
        return "no temp file (between saves)"
    if not names & {"cib.xml", "cib.xml.sig"}:
        return "writing cib.xml.new"  # the very first save
    main = (directory / "cib.xml").read_bytes() if "cib.xml" in names else b""
    sig = (directory / "cib.xml.sig").read_bytes() if "cib.xml.sig" in names else b""
    new = (directory / "cib.xml.new").read_bytes()
    if hashlib.md5(main).hexdigest().encode() == sig.strip():
        return "writing cib.xml.new"
    if hashlib.md5(new).hexdigest().encode() == sig.strip():
        return "between the two renames"
    return "unexpected"  # no state save() goes through: load() must still cope


def check_files(directory: Path, data: bytes) -> list[str]:
    """The on-disk invariants after a load, checked without the store's own logic."""
    problems = []
    content = (directory / "cib.xml").read_bytes()
    sig = (directory / "cib.xml.sig").read_text().strip()
    if content != data:
        problems.append("load() returned something other than cib.xml")
    if hashlib.md5(content).hexdigest() != sig:
        problems.append(f"cib.xml hashes to {hashlib.md5(content).hexdigest()}, sig {sig}")
    leftovers = sorted(n for n in os.listdir(directory) if n.endswith(".new"))
    if leftovers:
        problems.append(f"temp files left after load: {leftovers}")
    return problems


def check_backups(directory: Path) -> list[str]:
    problems = []
    raws = sorted(directory.glob("cib-*.raw"))
    if len(raws) > 10:
        problems.append(f"{len(raws)} backups, more than the 10 kept")
    for raw in raws:
        sig = raw.with_name(raw.name + ".sig")
        if sig.exists() and (why := why_refused(raw.name, raw.read_bytes(), sig.name,
                                                 sig.read_bytes())):
            problems.append(why)
    return problems


class Aim:
    """How long after the last ack (or the writer's start) to send SIGKILL.

    Three kills in four: uniform over zero to 1.25 typical saves, the whole write path.
    One in four (half of those after an ack): at the estimated commit moment, so that
    some land between the two renames (a window of microseconds) and load() has a save
    to complete. The estimate (a fraction of a typical save) is tracked like a median:
    later when the kill found the old CIB, earlier when it found the new one, in steps
    that shrink once it has settled.
    """

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.intervals: deque[float] = deque(maxlen=64)
        self.commit_fraction = 0.9
        self.aimed = 0

    def typical_s(self) -> float:
        return statistics.median(self.intervals) if self.intervals else 0.02

    def delay_s(self, after_ack: bool) -> tuple[float, bool]:
        if after_ack and self.rng.random() < 1 / 2:
            return self.commit_fraction * self.typical_s() * self.rng.uniform(0.95, 1.05), True
        return self.rng.uniform(0.0, 1.25 * self.typical_s()), False

    def learn(self, found_new: bool) -> None:
        self.aimed += 1
        step = 0.05 if self.aimed < 20 else 0.01
        step = -step if found_new else step
        self.commit_fraction = min(1.5, max(0.0, self.commit_fraction + step))


def kill_one_writer(server: WriterServer, directory: Path, start_epoch: int, aim: Aim,
                    ) -> tuple[list[int], bool]:
    """Fork a writer, wait for 0 or 1 ack and a delay, SIGKILL it: (its acks, aimed)."""
    pid = server.run(directory, start_epoch, aim.rng.getrandbits(32))
    acks: list[int] = []
    if aim.rng.random() < 1 / 2:
        before = time.perf_counter()
        word, value = server.line()
        assert word == "ack", (word, value, server.stderr())
        acks.append(int(value))
        aim.intervals.append(time.perf_counter() - before)
    delay_s, aimed = aim.delay_s(after_ack=bool(acks))
    deadline = time.perf_counter() + delay_s
    while time.perf_counter() < deadline:
        pass  # a busy wait: sleep() is too coarse for sub-millisecond delays
    os.kill(pid, signal.SIGKILL)
    while (line := server.line())[0] != "exit":
        acks.append(int(line[1]))
    status = int(line[1])
    assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL, (
        f"the writer ended by itself (status {status}): {server.stderr()}")
    return acks, aimed


def test_kill_9_during_writes(tmp_path: Path) -> None:
    aim = Aim(random.Random(SEED))
    directory = tmp_path / "cib"
    replay = (f"HASTACK_CIB_KILL_SEED={SEED} HASTACK_CIB_KILLS={KILLS} "
              f"pytest tests/integration/test_cib_store_kill.py")
    counts: Counter[str] = Counter()
    failures: list[str] = []
    loaded: int | None = None  # epoch of the CIB the last load gave
    server = WriterServer(tmp_path / "writer.stderr")
    started = time.perf_counter()
    try:
        for kill in range(KILLS):
            start_epoch = 1 if loaded is None else loaded + 1
            acks, aimed = kill_one_writer(server, directory, start_epoch, aim)
            counts["acknowledged saves"] += len(acks)
            state = disk_state(directory)
            counts[state] += 1
            last_acked = acks[-1] if acks else start_epoch - 1
            try:
                data = CibStore(directory).load()
            except CorruptCib as err:
                counts["corrupt"] += 1
                failures.append(f"kill {kill}: corrupt: {err}")
                loaded = last_acked
                continue
            if data is None:
                if acks or loaded is not None:
                    counts["lost"] += 1
                    failures.append(f"kill {kill}: no CIB at all, last acked epoch {last_acked}")
                continue
            epoch = int(etree.fromstring(data).get("epoch", "-1"))
            if epoch < last_acked:
                counts["lost"] += 1
                failures.append(f"kill {kill}: epoch {epoch} < last acked {last_acked}")
            elif epoch > last_acked + 1:
                counts["from the future"] += 1
                failures.append(f"kill {kill}: epoch {epoch} > last acked {last_acked} + 1")
            elif epoch == last_acked + 1:
                counts["committed, not yet acknowledged"] += 1
            if aimed and state != "between the two renames":
                aim.learn(found_new=epoch > last_acked)
            problems = check_files(directory, data)
            if kill % 50 == 0 or kill == KILLS - 1:
                problems += check_backups(directory)
            if problems:
                counts["bad files"] += 1
                failures.append(f"kill {kill}: {'; '.join(problems)}")
            loaded = epoch
    finally:
        server.close()

    summary = (f"{KILLS} kills in {time.perf_counter() - started:.1f} s (seed {SEED}), "
               f"final epoch {loaded}, typical save {1000 * aim.typical_s():.1f} ms; "
               f"corrupt {counts['corrupt']}, lost {counts['lost']}, "
               f"from the future {counts['from the future']}, bad files {counts['bad files']}; "
               f"{dict(sorted(counts.items()))}")
    print(summary)
    assert not failures, f"{summary}\nreplay: {replay}\n" + "\n".join(failures[:20])
    inside = KILLS - counts["no temp file (between saves)"]
    assert inside >= KILLS // 4, (
        f"only {inside} of {KILLS} kills landed inside save(): the kill timing misses the "
        f"write path\n{summary}\nreplay: {replay}")
