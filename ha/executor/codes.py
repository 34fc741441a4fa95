"""OCF exit codes, execution statuses and LSB status codes, as Pacemaker reads them.

An agent's exit code (rc) says what it found; the execution status (Pacemaker's
``op-status``, ``enum pcmk_exec_status``) says whether the agent ran to completion at
all — a timed-out agent has status 2 "Timed Out" whatever it would have returned.
The names are those of Pacemaker 2.1 (Debian 12's), which ``crm_resource`` and
``crm_mon`` print: ``'not running' (7)``, ``Timed Out``.

Recovery classes (soft: restart here or elsewhere; hard: not on this node again;
fatal: nowhere) follow Pacemaker's scheduler (``unpack.c``, remapping of a failed
result), which is what a cluster actually does; where its documentation table differs
(it calls rc 1 hard) the code wins, since that is what users observe.

LSB init scripts share codes 0-7 with OCF for every action except ``status``, whose
own codes are mapped as Pacemaker maps them (``services__lsb2ocf``): 0 running; 1, 2
and 3 (dead with pid file, dead with lock file, not running) → OCF 7; 150 and 151
(Pacemaker's "not installed", "insufficient privileges") → OCF 5 and 4; anything
else, 4 "unknown" included → OCF 1.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum


class OcfRc(IntEnum):
    """The OCF resource agent exit codes (``enum ocf_exitcode``)."""

    SUCCESS = 0
    ERR_GENERIC = 1
    ERR_ARGS = 2
    ERR_UNIMPLEMENTED = 3
    ERR_PERM = 4
    ERR_INSTALLED = 5
    ERR_CONFIGURED = 6
    NOT_RUNNING = 7
    RUNNING_PROMOTED = 8
    FAILED_PROMOTED = 9
    DEGRADED = 190
    DEGRADED_PROMOTED = 191


@dataclass(frozen=True)
class RcInfo:
    rc: int
    alias: str          # the OCF shell alias, e.g. OCF_NOT_RUNNING
    name: str           # as crm_resource prints it, e.g. "not running"
    recovery: str       # "none", "soft", "hard" or "fatal"


RC_TABLE: dict[int, RcInfo] = {i.rc: i for i in (
    RcInfo(0, "OCF_SUCCESS", "ok", "none"),
    RcInfo(1, "OCF_ERR_GENERIC", "error", "soft"),
    RcInfo(2, "OCF_ERR_ARGS", "invalid parameter", "hard"),
    RcInfo(3, "OCF_ERR_UNIMPLEMENTED", "unimplemented feature", "hard"),
    RcInfo(4, "OCF_ERR_PERM", "insufficient privileges", "hard"),
    RcInfo(5, "OCF_ERR_INSTALLED", "not installed", "hard"),
    RcInfo(6, "OCF_ERR_CONFIGURED", "not configured", "fatal"),
    RcInfo(7, "OCF_NOT_RUNNING", "not running", "none"),
    RcInfo(8, "OCF_RUNNING_PROMOTED", "promoted", "soft"),
    RcInfo(9, "OCF_FAILED_PROMOTED", "promoted (failed)", "soft"),
    RcInfo(190, "OCF_DEGRADED", "degraded", "none"),
    RcInfo(191, "OCF_DEGRADED_PROMOTED", "promoted (degraded)", "none"),
)}


def rc_info(rc: int) -> RcInfo:
    """The table entry for ``rc``; an unknown code is a custom error, soft."""
    return RC_TABLE.get(rc) or RcInfo(rc, "", f"unknown ({rc})", "soft")


def rc_name(rc: int) -> str:
    return rc_info(rc).name


def recovery_class(rc: int, *, interval_ms: int = 0, expected_rc: int = 0) -> str:
    """How a cluster recovers from ``rc`` when ``expected_rc`` was expected:
    ``none`` when the result is what was expected (or harmless), else soft, hard or
    fatal. A recurring action that is unimplemented is "not supported", no recovery;
    a probe's (interval 0 monitor's) 7 or 0 is a finding, not a failure — callers
    pass ``expected_rc`` 7 for a probe."""
    if rc == expected_rc:
        return "none"
    if rc == OcfRc.ERR_UNIMPLEMENTED and interval_ms > 0:
        return "none"
    if rc == OcfRc.NOT_RUNNING:
        return "soft"        # a monitor that expected it running found it stopped
    if rc in (OcfRc.DEGRADED, OcfRc.DEGRADED_PROMOTED):
        return "none"
    info = rc_info(rc)
    return "soft" if info.recovery == "none" else info.recovery


class ExecStatus(IntEnum):
    """Pacemaker's execution status of an action (``op-status`` in the CIB)."""

    PENDING = -1
    DONE = 0
    CANCELLED = 1
    TIMEOUT = 2
    NOT_SUPPORTED = 3
    ERROR = 4
    ERROR_HARD = 5
    ERROR_FATAL = 6
    NOT_INSTALLED = 7


EXEC_STATUS_NAMES: dict[int, str] = {
    -1: "pending", 0: "complete", 1: "Cancelled", 2: "Timed Out", 3: "NOT SUPPORTED",
    4: "Error", 5: "Hard error", 6: "Fatal error", 7: "Not installed",
}


def exec_status_name(status: int) -> str:
    return EXEC_STATUS_NAMES.get(status, "UNKNOWN!")


# LSB status action codes (LSB 3.0, "status" only)
LSB_STATUS_OK = 0
LSB_STATUS_VAR_PID = 1
LSB_STATUS_VAR_LOCK = 2
LSB_STATUS_NOT_RUNNING = 3
LSB_STATUS_UNKNOWN = 4
LSB_STATUS_NOT_INSTALLED = 150    # Pacemaker's own extensions of the LSB status codes
LSB_STATUS_INSUFFICIENT_PRIV = 151


def lsb_to_ocf(action: str, exit_code: int) -> int:
    """An LSB init script's exit code as the OCF rc Pacemaker reports for it."""
    if action not in ("status", "monitor"):
        return exit_code if 0 <= exit_code <= OcfRc.NOT_RUNNING else int(OcfRc.ERR_GENERIC)
    return {
        LSB_STATUS_OK: int(OcfRc.SUCCESS),
        LSB_STATUS_NOT_INSTALLED: int(OcfRc.ERR_INSTALLED),
        LSB_STATUS_INSUFFICIENT_PRIV: int(OcfRc.ERR_PERM),
        LSB_STATUS_VAR_PID: int(OcfRc.NOT_RUNNING),
        LSB_STATUS_VAR_LOCK: int(OcfRc.NOT_RUNNING),
        LSB_STATUS_NOT_RUNNING: int(OcfRc.NOT_RUNNING),
    }.get(exit_code, int(OcfRc.ERR_GENERIC))


def ocf_rc_of(exit_code: int) -> int:
    """An OCF agent's exit code as Pacemaker keeps it: 0-9, 190 and 191 as they are,
    anything else (including negative, a signal) becomes 1, a generic error."""
    if exit_code in RC_TABLE:
        return exit_code
    return int(OcfRc.ERR_GENERIC)
