"""The node daemon's two records: a JSON-lines trace and a timestamped log.

The trace has the same records as the simulator's (``t_ms``, ``node``, ``event`` and
the event's fields) plus ``ts``, the wall-clock time in epoch seconds, so that the
harness can put traces of several real nodes on one timeline. The log is for people:
one line per notable event, timestamped, in the manner of corosync's log
(``[TOTEM ] A new membership (1.8) was formed. Members joined: 2 3``).
"""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import IO, Any

from ha.runtime.corosync_conf import LoggingConfig

LOG = logging.getLogger("hastack")


class TraceWriter:
    """Append JSON lines to a file (or nowhere); flushed per record so a crash loses
    at most the record being written."""

    def __init__(self, path: str | None, node_id: int, t0: float) -> None:
        self.node_id = node_id
        self.t0 = t0
        self._fh: IO[str] | None = open(path, "a", encoding="utf-8") if path else None  # noqa: SIM115

    def write(self, now: float, event: str, fields: dict[str, Any]) -> None:
        if self._fh is None:
            return
        rec: dict[str, Any] = {"ts": round(time.time(), 6), "t_ms": round((now - self.t0) * 1000, 3),
                               "node": self.node_id, "event": event}
        rec.update(fields)
        self._fh.write(json.dumps(rec, sort_keys=True, separators=(",", ":"), default=str) + "\n")
        self._fh.flush()

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None


class _Formatter(logging.Formatter):
    def __init__(self, stamp: bool) -> None:
        super().__init__()
        self.stamp = stamp

    def format(self, record: logging.LogRecord) -> str:
        subsys = getattr(record, "subsys", "MAIN")
        level = {"WARNING": "warning", "ERROR": "error", "CRITICAL": "crit",
                 "INFO": "notice", "DEBUG": "debug"}[record.levelname]
        line = f"{level:<7} [{subsys:<6}] {record.getMessage()}"
        if self.stamp:
            t = time.localtime(record.created)
            ms = int(record.msecs)
            line = time.strftime("%b %d %H:%M:%S", t) + f".{ms:03d} " + line
        return line


def setup_logging(cfg: LoggingConfig, *, logfile: str | None = None,
                  debug: bool = False) -> logging.Logger:
    """Configure the ``hastack`` logger from corosync.conf's logging section.

    Standard error always gets the log in the foreground (that is what systemd
    collects); ``to_logfile`` adds a file. Lines are always timestamped (to the
    millisecond): failover analysis needs them more than it needs short lines.
    """
    LOG.handlers.clear()
    LOG.propagate = False
    LOG.setLevel(logging.DEBUG if (debug or cfg.debug) else logging.INFO)
    stamp = True
    err = logging.StreamHandler(sys.stderr)
    err.setFormatter(_Formatter(stamp))
    LOG.addHandler(err)
    path = logfile or (cfg.logfile if cfg.to_logfile else None)
    if path:
        fh = logging.FileHandler(path, encoding="utf-8")
        fh.setFormatter(_Formatter(True))
        LOG.addHandler(fh)
    return LOG


def log(subsys: str, msg: str, level: int = logging.INFO) -> None:
    LOG.log(level, msg, extra={"subsys": subsys})
