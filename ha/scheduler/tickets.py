"""rsc_ticket: what a resource (or one role of it) may do without its ticket.

Pacemaker's rules: a ticket that is granted and not on standby changes nothing.
Otherwise, for the resource (each instance of a clone):

- if the ticket was revoked while it runs: loss-policy ``stop`` stops it;
  ``demote`` stops it unless the constraint is for the Promoted role (then it is
  only demoted); ``fence`` (stop without stonith) fences the nodes it runs on, if
  the role matches;
  ``freeze`` leaves it as it is, if the role matches (its current role);
- not granted and not running, or granted but on standby: it may not start,
  unless the constraint is for the Promoted role with a policy other than stop;
- a constraint for the Promoted role keeps every instance from being promoted.
"""

from __future__ import annotations

from collections.abc import Callable

from lxml import etree

from ha.cib.schema_data import is_pcmk_true
from ha.scheduler.model import Cluster, canonical_role
from ha.scheduler.nodestate import fence_node


def _state(root: etree._Element, ticket: str) -> tuple[bool, bool]:
    """(granted, standby) of a ticket; a ticket with no state is not granted."""
    for state in root.findall("status/tickets/ticket_state"):
        if state.get("id") == ticket:
            return (is_pcmk_true(state.get("granted", "false")),
                    is_pcmk_true(state.get("standby", "false")))
    return False, False


def unpack_tickets(root: etree._Element, cluster: Cluster,
                   known: Callable[[Cluster, str], bool]) -> None:
    """Apply every ``rsc_ticket`` (and its resource sets) to the resources it names."""
    stonith = is_pcmk_true(cluster.options.get("stonith-enabled", "true"))
    for el in root.findall("configuration/constraints/rsc_ticket"):
        ticket = el.get("ticket")
        refs = [(el.get("rsc"), el.get("rsc-role"))] + [
            (r.get("id"), s.get("role")) for s in el.iterfind("resource_set")
            for r in s.iterfind("resource_ref")]
        policy = (el.get("loss-policy") or "stop").lower()
        if policy == "fence" and not stonith:
            policy = "stop"
        for rid, role_text in refs:
            if rid is None or ticket is None or not known(cluster, rid):
                continue
            role = canonical_role(role_text)
            _ticket(cluster, rid, None if role == "Started" else role, policy,
                    *_state(root, ticket))


def _ticket(cluster: Cluster, rid: str, role: str | None, policy: str, granted: bool,
            standby: bool) -> None:
    promoted = role == "Promoted"
    if promoted and (not granted or standby):
        cluster.no_promotion.update(
            r.clone for m in cluster.members(rid) if (r := cluster.resource(m)) and r.clone)
    if granted and not standby:
        return
    for member in cluster.members(rid):
        rsc = cluster.resource(member)
        assert rsc is not None
        matches = role is None or role == rsc.role
        if not granted and rsc.running:
            if policy == "stop" or (policy == "demote" and not promoted) \
                    or (policy == "fence" and matches):
                rsc.fatal = True
            if policy == "fence" and matches:  # the nodes it runs on are fenced
                for uname in rsc.running:
                    node = cluster.node(uname)
                    if node is not None:
                        fence_node(cluster, node, "deadman ticket was lost")
            elif policy == "freeze" and matches:
                rsc.managed = False
        elif not promoted or policy == "stop":
            rsc.fatal = True
