"""Replaying one node's operation history of one resource (``lrm_rsc_op``).

Operations are replayed in call-id order (at equal call-ids a recorded failure comes
after the success it shares the call with). Each result is judged against the result
the controller expected (the third field of ``transition-key``):

- as expected, or a probe finding it stopped: the role follows the operation
  (start/monitor 0 → Started, 8 → Promoted, stop or "not running" → Stopped);
- otherwise a failure: the resource is failed there and, by the operation's
  ``on-fail`` (default ``restart``; ``fence`` for stop when stonith is enabled, else
  ``block``), recovered in place, stopped, blocked, ignored, or its node put in
  standby or fenced;
- hard errors (OCF 2, 3, 4, 5 or op-status "not installed") ban the node; "not
  installed" from a probe also means it is not running there; OCF 6 (not
  configured) stops it everywhere.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cmp_to_key

from lxml import etree

from ha.scheduler.model import Resource

OCF_OK, OCF_NOT_RUNNING, OCF_RUNNING_PROMOTED = 0, 7, 8
OCF_NOT_INSTALLED, OCF_NOT_CONFIGURED = 5, 6
OCF_DEGRADED, OCF_DEGRADED_PROMOTED = 190, 191
HARD_RCS = {2, 3, 4, 5}
STATUS_DONE, STATUS_PENDING, STATUS_CANCELLED, STATUS_ERROR = "0", "-1", "1", "4"
STATUS_NOT_INSTALLED = "7"


def _int(text: str | None, default: int = 0) -> int:
    try:
        return int(text) if text is not None else default
    except ValueError:
        return default


def _sort_key(op: etree._Element) -> tuple[int, int]:
    return (_int(op.get("call-id")), "_last_failure_" in op.get("id", ""))


def _magic_transition(op: etree._Element) -> tuple[str, int]:
    """(controller uuid, transition number) of the operation's ``transition-magic``."""
    key = (op.get("transition-magic") or "").split(";")[-1].split(":")
    return (key[3], _int(key[1], -1)) if len(key) >= 4 else ("", -1)


def _compare(a: etree._Element, b: etree._Element) -> int:
    """Pacemaker's history order: by call-id, a pending operation (call-id -1) placed
    by the transition that scheduled it (a later transition, or another controller's,
    makes it the newest)."""
    a_call, b_call = _int(a.get("call-id"), -1), _int(b.get("call-id"), -1)
    if a_call >= 0 and b_call >= 0:
        if a_call != b_call:
            return -1 if a_call < b_call else 1
        # one operation and its recorded failure: the later change last
        la, lb = _int(a.get("last-rc-change"), -1), _int(b.get("last-rc-change"), -1)
        if 0 <= la < lb:
            return -1
        if lb >= 0 and la > lb:
            return 1
        ka, kb = _sort_key(a), _sort_key(b)
        return (ka > kb) - (ka < kb)
    if a_call == -1 and b_call == -1:
        return 0
    (a_uuid, a_id), (b_uuid, b_id) = _magic_transition(a), _magic_transition(b)
    if a_uuid != b_uuid or a_id == b_id:
        return -1 if b_call == -1 else 1
    if (0 <= a_id < b_id) or b_id == -1:
        return -1
    return 1


def expected_rc(op: etree._Element) -> int:
    """The result the controller asked for (``transition-key`` = action:graph:rc:uuid)."""
    parts = (op.get("transition-key") or "").split(":")
    return _int(parts[2]) if len(parts) >= 4 else OCF_OK


def result(op: etree._Element) -> tuple[int, str]:
    """(rc, op-status); old CIBs carry them only in ``transition-magic`` (status:rc;key).

    An "error" status is judged by its rc like a completed operation, as the executor
    reports a non-zero rc as an error.
    """
    rc_text, status = op.get("rc-code"), op.get("op-status")
    magic = (op.get("transition-magic") or "").split(";")[0].split(":")
    if len(magic) == 2:
        status = status if status is not None else magic[0]
        rc_text = rc_text if rc_text is not None else magic[1]
    status = status or STATUS_DONE
    rc = _int(rc_text)
    if op.get("operation") == "monitor":  # degraded is still running
        rc = {OCF_DEGRADED: OCF_OK, OCF_DEGRADED_PROMOTED: OCF_RUNNING_PROMOTED}.get(rc, rc)
    return rc, STATUS_DONE if status == STATUS_ERROR else status


def on_fail(rsc: Resource, task: str, interval_ms: int, stonith: bool) -> str:
    for op in rsc.ops:
        if op.name == task and op.interval_ms == interval_ms and op.on_fail:
            return op.on_fail
    if rsc.container is not None:
        return "restart-container"
    if task == "stop":
        return "fence" if stonith else "block"
    return "restart"


def _success_role(task: str, rc: int, role: str | None) -> str | None:
    if task == "stop":
        return None
    if task == "migrate_to":  # still active here until the migration completes
        return role or "Started"
    if rc == OCF_NOT_RUNNING:
        return None
    if rc == OCF_RUNNING_PROMOTED or task == "promote":
        return "Promoted"
    if task in ("start", "migrate_from", "demote"):
        return "Started"
    if task == "monitor":
        return role if role == "Promoted" and rc == OCF_RUNNING_PROMOTED else "Started"
    return role


class History:
    """The outcome of replaying one node's history of one resource."""

    def __init__(self, rsc: Resource, uname: str, stonith: bool) -> None:
        self.rsc, self.uname, self.stonith = rsc, uname, stonith
        self.role: str | None = None
        self.failed = False
        self.last_start: etree._Element | None = None
        #: (task, interval) of the last failed operation
        self.last_failure: tuple[str, int] | None = None
        #: a failure whose recovery is its container's restart
        self.restart_container = False
        self.start_pending = False
        #: whether the node can be fenced (a stop failing for good is then recoverable)
        self.fenceable = True
        #: whether a failed entry (with its rc) has expired (failure-timeout)
        self.expired: Callable[[etree._Element, int], bool] = lambda op, rc: False

    def replay(self, ops: list[etree._Element]) -> None:
        # notifications say nothing of its state
        ops = [op for op in ops if op.get("operation") not in ("notify", "meta-data")]
        for op in sorted(ops, key=cmp_to_key(_compare)):
            self.step(op)

    def step(self, op: etree._Element) -> None:
        task = op.get("operation", "")
        interval = _int(op.get("interval"))
        rc, status = result(op)
        if status == STATUS_PENDING:
            if task in ("start", "migrate_from", "promote", "demote"):
                self.role = "Promoted" if task == "promote" else "Started"
            self.start_pending = self.start_pending or task == "start"
            return
        if status == STATUS_CANCELLED:
            return
        probe = task == "monitor" and interval == 0
        if status != STATUS_NOT_INSTALLED and rc != expected_rc(op) and self.expired(op, rc):
            return  # an expired failure is forgotten
        if status == STATUS_DONE and (rc == expected_rc(op) or
                                      probe and rc in (OCF_OK, OCF_NOT_RUNNING,
                                                       OCF_RUNNING_PROMOTED)):
            self.role = _success_role(task, rc, self.role)
            # a later start, stop or promote clears a past failure, as do "not
            # running" and a later success of the very operation that failed; a
            # demote only one whose recovery was the demote itself
            policy = self.rsc.on_fail.get(self.uname)
            repeated = rc == OCF_NOT_RUNNING or (task == "monitor"
                                                 and (task, interval) == self.last_failure)
            if task in ("start", "stop", "promote", "migrate_from") or (
                    repeated and policy not in ("stop", "fence", "standby")) or (
                    task == "demote" and policy == "demote"):
                self.failed = False
            if task in ("start", "migrate_from"):
                self.last_start = op
            return
        self.failure(task, interval, rc, status)

    def failure(self, task: str, interval: int, rc: int, status: str) -> None:
        rsc = self.rsc
        self.last_failure = (task, interval)
        not_installed = rc == OCF_NOT_INSTALLED or status == STATUS_NOT_INSTALLED
        probe = task == "monitor" and interval == 0
        policy = on_fail(rsc, task, interval, self.stonith)
        if policy == "restart-container":
            self.restart_container = True
            if task == "stop":  # taken as done
                self.role = None
                rsc.ignored_failure = True
                return
        if policy == "ignore" and not (probe and not_installed):
            if status != STATUS_NOT_INSTALLED:  # as if it had succeeded
                rsc.ignored_failure = True
                self.role = (self.role or "Started") if task == "monitor" \
                    else _success_role(task, OCF_OK, self.role)
                return
            policy = "restart"  # a missing agent cannot be ignored: recovered elsewhere
        if rc == OCF_NOT_CONFIGURED and status == STATUS_DONE:
            rsc.fatal = True
        elif (rc in HARD_RCS and status == STATUS_DONE and not (rc == 3 and interval)) \
                or not_installed:  # an unimplemented recurring action is a soft failure
            rsc.banned.add(self.uname)
        if probe and not_installed:
            self.role = None
            return
        if task == "stop" and status == STATUS_DONE and not self.fenceable \
                and (rc in (2, 4, 5) or (rc == 3 and not interval)):
            rsc.unrecoverable = True  # nothing but fencing could recover it: blocked
        self.failed = True
        if task == "promote":
            self.role = "Promoted"
        elif task == "demote":  # stays promoted if blocked; else stopped or unpromoted
            self.role = ("Promoted" if policy == "block" else
                         None if rc == OCF_NOT_RUNNING else "Started")
        if self.role is None or (self.role == "Promoted" and task in ("start", "stop")):
            self.role = "Started"  # a failed operation leaves it active
        rsc.on_fail[self.uname] = policy
