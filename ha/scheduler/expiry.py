"""failure-timeout: failures old enough are forgotten.

Pacemaker's rules, judged against "now" (nothing expires while now is unknown):

- a resource's fail count on a node (``fail-count-RSC…`` attributes) no longer counts
  once ``failure-timeout`` has passed since its latest ``last-failure-RSC…``: it
  neither bans the node (``migration-threshold``) nor anything else;
- a failed operation in the history expires once ``failure-timeout`` has passed
  since its ``last-rc-change`` -- unless the node still has a fail count that has
  not expired. An expired one-off failure is ignored altogether; an expired
  recurring-monitor failure too, on a node that is up and clean. A probe finding
  the resource running, stopped or promoted is no failure, so never "expires";
- a failure handled with ``on-fail=block`` never expires.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from lxml import etree

from ha.cib.schema_data import duration_ms
from ha.scheduler.model import Node, Resource, add_scores, parse_score


def failure_timeout_s(rsc: Resource) -> int:
    """``failure-timeout`` in seconds (0: failures never expire)."""
    text = rsc.meta.get("failure-timeout")
    ms = duration_ms(text.strip()) if text else None
    return (ms or 0) // 1000


def _matches(name: str, prefix: str, rid: str, legacy: bool) -> bool:
    """Pacemaker's fail-count names: ``PREFIX-RSC#OP_INTERVAL`` (``PREFIX-RSC`` in CIBs
    older than feature set 3.0.13, ``legacy``); an anonymous clone's may carry an
    instance number (``PREFIX-RSC:N…``) and count for every instance."""
    head = f"{prefix}-{rid}"
    if not name.startswith(head):
        return False
    rest = name[len(head):]
    if rest.startswith(":") and ":" not in rid:
        digits = rest[1:].split("#", 1)[0]
        if not digits.isdigit():
            return False
        rest = rest[1 + len(digits):]
    if legacy:
        return rest == ""
    op, _, interval = rest[1:].rpartition("_")
    return rest.startswith("#") and bool(op) and interval.isdigit()


def _last_failure(node: Node, rid: str) -> int:
    last = 0
    for name, value in node.attrs.items():
        if _matches(name, "last-failure", rid, node.legacy_fail_names) and value.strip().lstrip("-").isdigit():
            last = max(last, int(value))
    return last


def raw_fail_count(node: Node, rid: str) -> int:
    total = 0
    for name, value in node.attrs.items():
        if _matches(name, "fail-count", rid, node.legacy_fail_names):
            total = add_scores(total, parse_score(value))
    return total


def _blocks(rsc: Resource, uname: str) -> bool:
    return rsc.on_fail.get(uname) == "block" or any(
        op.on_fail == "block" for op in rsc.ops)


def effective_fail_count(node: Node, rid: str, rsc: Resource, now: datetime | None) -> int:
    """The fail count that still counts at ``now``."""
    count = raw_fail_count(node, rid)
    timeout = failure_timeout_s(rsc)
    if count <= 0 or not timeout or now is None or _blocks(rsc, node.uname):
        return count
    last = _last_failure(node, rid)
    if last > 0 and now.timestamp() > last + timeout:
        return 0
    return count


def op_expiry(rsc: Resource, node: Node, rid: str, now: datetime | None
              ) -> Callable[[etree._Element, int], bool]:
    """A test of whether a history entry's failure (with result ``rc``) has expired."""
    timeout = failure_timeout_s(rsc)

    def expired(op: etree._Element, rc: int) -> bool:
        if not timeout or now is None or _blocks(rsc, node.uname):
            return False
        changed = op.get("last-rc-change", "").strip()
        if not changed.lstrip("-").isdigit() or now.timestamp() < int(changed) + timeout:
            return False
        if raw_fail_count(node, rid) > 0 and effective_fail_count(node, rid, rsc, now) > 0:
            return False
        probe = op.get("operation") == "monitor" and op.get("interval", "0") == "0"
        if op.get("interval", "0") != "0" and (not node.online or node.unclean):
            return False
        return not (probe and rc in (0, 7, 8, 190, 191))
    return expired
