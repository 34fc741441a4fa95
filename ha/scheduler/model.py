"""The scheduler's data: nodes, resources, their current state, and the transition.

Scores follow Pacemaker's arithmetic: ``INFINITY`` is 1,000,000, any sum is clamped to
±INFINITY, and -INFINITY wins over +INFINITY (a ban beats a preference).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

INFINITY = 1_000_000


def add_scores(a: int, b: int) -> int:
    """Pacemaker's pcmk__add_scores rule: -INF dominates, then +INF, else a clamped sum."""
    if a <= -INFINITY or b <= -INFINITY:
        return -INFINITY
    if a >= INFINITY or b >= INFINITY:
        return INFINITY
    return max(-INFINITY, min(INFINITY, a + b))


def parse_score(text: str | None, default: int = 0) -> int:
    """A score as the CIB writes it: an integer, ``INFINITY``, ``+INFINITY``, ``-INFINITY``."""
    if text is None:
        return default
    t = text.strip()
    low = t.lower()
    if low in ("infinity", "+infinity"):
        return INFINITY
    if low == "-infinity":
        return -INFINITY
    if low in ("red", "yellow", "green"):
        return default
    digits = ""
    for i, ch in enumerate(t):
        if ch.isdigit() or (i == 0 and ch in "+-"):
            digits += ch
        else:
            break
    try:
        return max(-INFINITY, min(INFINITY, int(digits)))
    except ValueError:
        return default


_ROLE_NAMES = {"master": "Promoted", "promoted": "Promoted", "slave": "Unpromoted",
               "unpromoted": "Unpromoted", "started": "Started", "stopped": "Stopped"}


def canonical_role(text: str | None) -> str | None:
    """A role as the CIB may write it (``Master``/``Slave`` are the legacy names of
    ``Promoted``/``Unpromoted``); None for no role or an unknown one."""
    if text is None:
        return None
    return _ROLE_NAMES.get(text.strip().lower())


def score_text(score: int) -> str:
    if score >= INFINITY:
        return "INFINITY"
    if score <= -INFINITY:
        return "-INFINITY"
    return str(score)


@dataclass
class Node:
    """A cluster node as the scheduler sees it."""

    id: str
    uname: str
    online: bool = False
    standby: bool = False
    maintenance: bool = False
    unclean: bool = False
    unclean_reason: str | None = None
    shutdown: bool = False
    #: up but not (yet) a joined member: it runs nothing
    pending: bool = False
    #: the status section never mentioned it
    unseen: bool = False
    attrs: dict[str, str] = field(default_factory=dict)
    #: fail counts are named the pre-3.0.13 way (``fail-count-RSC``, no ``#OP_INTERVAL``)
    legacy_fail_names: bool = False
    #: utilization capacities (``<utilization>`` of the node)
    capacity: dict[str, int] = field(default_factory=dict)

    @property
    def can_run(self) -> bool:
        return (self.online and not self.standby and not self.unclean and not self.maintenance
                and not self.shutdown and not self.pending)


@dataclass
class Op:
    """One configured operation of a resource (``<op>``)."""

    name: str
    interval_ms: int
    role: str | None = None
    on_fail: str | None = None
    params: dict[str, str] = field(default_factory=dict)
    #: the op's own timeout (``timeout``), None when it inherits op_defaults / 20 s
    timeout_ms: int | None = None


@dataclass
class Resource:
    """A primitive resource, its configuration and its state on each node."""

    id: str
    cls: str
    provider: str | None
    type: str
    params: dict[str, str] = field(default_factory=dict)
    meta: dict[str, str] = field(default_factory=dict)
    ops: list[Op] = field(default_factory=list)
    #: what it uses of its node's capacities (``<utilization>``)
    utilization: dict[str, int] = field(default_factory=dict)
    priority: int = 0
    #: the priority of the top-level resource it is part of (itself, its group or
    #: its clone): resources are listed and assigned by it
    top_priority: int = 0
    stickiness: int = 0
    managed: bool = True
    target_role: str = "Started"
    #: node uname -> role there ("Started", "Unpromoted", "Promoted") where it is active
    running: dict[str, str] = field(default_factory=dict)
    #: the role it is to have after the transition, when a promotable clone decided it
    #: ("Promoted", "Unpromoted", "Stopped"); None means Started where assigned
    next_role: str | None = None
    #: the promotion priority of a promotable clone's instance (its promotion score
    #: plus role-specific constraints); negative: it may not be promoted
    promotion: int = 0
    #: why its promotion cannot run ("colocation with X": X, which its Promoted role
    #: must be with, cannot start)
    promote_blocked: str | None = None
    #: node uname -> True when it failed there
    failed: dict[str, bool] = field(default_factory=dict)
    #: nodes whose operation history for this resource is known (probed or run)
    known_on: set[str] = field(default_factory=set)
    #: nodes where the history is bound to this very instance (``known_on`` is
    #: shared by all instances of an anonymous clone)
    own_history: set[str] = field(default_factory=set)
    #: nodes where the last start's parameters differ from the configuration
    changed_on: set[str] = field(default_factory=set)
    #: nodes where it restarts for no reason the summary gives (its agent changed,
    #: parameters changed while a start was pending, a filler of its failed)
    restart_on: set[str] = field(default_factory=set)
    #: nodes where only reloadable parameters changed (an agent reload will do)
    reload_on: set[str] = field(default_factory=set)
    #: the container resource it runs in (``container`` meta attribute)
    container: str | None = None
    #: the node it is locked to by a clean shutdown (``shutdown-lock``)
    lock_node: str | None = None
    #: its stop failed with a hard error where fencing is not possible
    unrecoverable: bool = False
    #: a failure was ignored (on-fail=ignore): migration-threshold no longer applies
    ignored_failure: bool = False
    #: nodes where it failed but the node was unclean already: fencing ends the failure
    failure_ignored: set[str] = field(default_factory=set)
    #: node uname -> the on-fail policy of the failure recorded there
    on_fail: dict[str, str] = field(default_factory=dict)
    #: nodes it may never run on again (hard errors, fail count at migration-threshold)
    banned: set[str] = field(default_factory=set)
    #: a fatal error (not configured): it may run nowhere
    fatal: bool = False
    migration_threshold: int = 1_000_000
    #: in the status section only: no longer configured, so it is stopped
    orphan: bool = False
    #: the action ("rsc start", "group running") whose being unrunnable makes this
    #: one's start unrunnable; "" when it may not run there at all, for no reason
    #: the summary gives (an interleaved instance with no counterpart on its node)
    unrunnable: str | None = None
    #: how the summary words that: "unrunnable", or "required" when the first
    #: action was made mandatory before it became unrunnable (it was stopping)
    unrunnable_verb: str = "unrunnable"
    #: the action whose happening forces this one to restart
    required: str | None = None
    allowed: dict[str, int] = field(default_factory=dict)
    assigned: str | None = None
    #: it moves to ``assigned`` by live migration (migrate_to, migrate_from)
    migrating: bool = False
    #: why a move that could have migrated is a stop and start instead
    move_reason: str = ""
    #: a migration begun (migrate_to done) but not finished: (source, target)
    partial_migration: tuple[str, str] | None = None
    #: a finished migration whose source still awaits its stop (it cannot migrate
    #: again before that stop)
    dangling_migration: bool = False
    #: a start is in flight (recorded pending)
    start_pending: bool = False
    #: the group this primitive is a member of
    group: str | None = None
    #: the clone this primitive is an instance of, and the id its history uses
    clone: str | None = None
    history_id: str = ""
    #: the id a node's history named this instance by, when it differs (old
    #: histories name anonymous instances ``rsc:N``); promotion scores use it
    clone_name: str | None = None

    @property
    def agent(self) -> str:
        prov = f":{self.provider}" if self.provider else ""
        return f"{self.cls}{prov}:{self.type}"

    @property
    def blocked(self) -> bool:
        """A failure with on-fail=block, or a stop failed for good on a node that
        cannot be fenced: nothing more is done to it."""
        return self.unrecoverable or "block" in self.on_fail.values()

    @property
    def stopping(self) -> bool:
        """It is to be stopped: target-role Stopped, or a failure with on-fail=stop."""
        return (self.orphan or self.target_role.lower() == "stopped"
                or "stop" in self.on_fail.values()
                or (len(self.running) > 1 and self.meta.get("multiple-active") == "stop_only"))

    @property
    def role(self) -> str:
        roles = set(self.running.values())
        for role in ("Promoted", "Unpromoted", "Started"):
            if role in roles:
                return role
        return "Stopped"


@dataclass
class Clone:
    """A clone: ``max`` instances of one primitive, at most ``node_max`` per node."""

    id: str
    base: str
    instances: list[str]
    node_max: int = 1
    unique: bool = False
    promotable: bool = False
    promoted_max: int = 1
    promoted_node_max: int = 1
    #: clone-min: how many instances must be able to run before what is ordered
    #: after the clone may start (0: one is enough, through the clone's own start)
    clone_min: int = 0
    #: a cloned group: the group's id and its members' ids; instance ``i`` is the
    #: group ``GROUP:i`` of ``MEMBER:i`` (``instances`` are its first members)
    group: str = ""
    members: list[str] = field(default_factory=list)
    #: the configured primitive(s) instances are copies of (orphans are made from them)
    proto: list[Resource] = field(default_factory=list, repr=False, compare=False)
    #: instances made for history no instance could take (numbered after the rest)
    orphans: int = 0


@dataclass(frozen=True)
class Colocation:
    id: str
    dependent: str
    primary: str
    score: int
    #: the role each side is limited to ("Promoted", "Unpromoted"), None for any
    dependent_role: str | None = None
    primary_role: str | None = None
    #: node-attribute: "with" means on a node with the same value of this node
    #: attribute (None: the same node)
    node_attribute: str | None = None


@dataclass(frozen=True)
class Ordering:
    id: str
    first: str
    then: str
    first_action: str = "start"
    then_action: str = "start"
    kind: str = "Mandatory"
    symmetrical: bool = True
    #: how reasons name first's action: "rsc start", or "group running" for a
    #: group or clone, whose start is complete when all of it runs
    first_label: str = ""
    #: a "one or more" ordering (clone-min, require-all=false): ``then`` may start
    #: once ``min_any`` of these (resources, or clone instances) can start
    any_of: tuple[str, ...] = ()
    min_any: int = 0
    #: the other members of an unordered group (ordered=false) as ``then``: each
    #: waits for ``first`` itself, not for the member before it
    then_also: tuple[str, ...] = ()

    @property
    def first_event(self) -> str:
        return self.first_label or f"{self.first} {self.first_action}"


@dataclass(frozen=True)
class Action:
    """One action of the transition graph."""

    id: int
    resource: str
    task: str
    node: str
    interval_ms: int = 0


@dataclass(frozen=True)
class Change:
    """One line of the Transition Summary: verb, resource, details, reason."""

    verb: str
    resource: str
    details: str
    reason: str = ""


@dataclass
class Cluster:
    """Everything unpacked from one CIB."""

    nodes: list[Node]
    resources: list[Resource]
    options: dict[str, str]
    rsc_defaults: dict[str, str]
    colocations: list[Colocation] = field(default_factory=list)
    orderings: list[Ordering] = field(default_factory=list)
    locations: list[tuple[str, str, int]] = field(default_factory=list)
    #: location constraints for the Promoted role: (resource, node, score)
    promoted_locations: list[tuple[str, str, int]] = field(default_factory=list)
    #: promotable clones none of whose instances may be promoted (a ticket they
    #: need for the Promoted role is not granted, or on standby)
    no_promotion: set[str] = field(default_factory=set)
    #: group id -> its members' ids, in order
    groups: dict[str, list[str]] = field(default_factory=dict)
    #: template or tag id -> the primitives made from it, or tagged with it
    templates: dict[str, list[str]] = field(default_factory=dict)
    clones: dict[str, Clone] = field(default_factory=dict)
    #: ``op_defaults`` meta attributes (timeout, …)
    op_defaults: dict[str, str] = field(default_factory=dict)
    #: the date rules and failure-timeout are judged against (None: unknown)
    now: datetime | None = None
    #: resource ids in the order they were assigned (and are summarised)
    assign_order: list[str] = field(default_factory=list)
    _rsc_index: dict[str, Resource] = field(default_factory=dict, repr=False, compare=False)
    _rsc_indexed: int = field(default=-1, repr=False, compare=False)
    _node_index: dict[str, Node] = field(default_factory=dict, repr=False, compare=False)
    stonith_enabled: bool = True
    #: secrets in the CIB may be masked, as in the CIBs simulations read (Pacemaker's
    #: "sanitized" mode): a parameter change only in secrets is not acted on
    secrets_masked: bool = True
    #: some resource provides or requires unfencing
    unfencing: bool = False
    #: (node, reason): a fencing device changed there, so the node is unfenced again
    unfence_triggers: list[tuple[str, str]] = field(default_factory=list)
    #: a fencing device (or watchdog self-fencing) is configured
    fencing_device: bool = True
    #: the partition had quorum (``have-quorum``), and its ``no-quorum-policy``
    quorate: bool = True
    no_quorum_policy: str = "stop"
    #: unclean nodes in the order their fencing was decided
    fence_order: list[str] = field(default_factory=list)

    def members(self, rid: str) -> list[str]:
        """The primitives a constraint on ``rid`` applies to (a group's members, a
        template's primitives)."""
        if rid in self.clones:
            return self.clones[rid].instances
        return self.groups.get(rid) or self.templates.get(rid) or [rid]

    def node(self, uname: str) -> Node | None:
        index = self._node_index
        if len(index) != len(self.nodes):
            index.clear()
            index.update((n.uname, n) for n in reversed(self.nodes))
        return index.get(uname)

    def resource(self, rid: str) -> Resource | None:
        # an index, rebuilt whenever resources were added (orphans, instances), so
        # lookups stay O(1) on CIBs of thousands of resources
        index = self._rsc_index
        if self._rsc_indexed != len(self.resources):
            index.clear()
            index.update((r.id, r) for r in reversed(self.resources))
            self._rsc_indexed = len(self.resources)
        found = index.get(rid)
        return found if found is not None and found.id == rid else None


@dataclass
class Transition:
    """What the scheduler decided: placement, actions, ordering edges, the summary."""

    cluster: Cluster
    changes: list[Change]
    actions: list[Action]
    edges: list[tuple[int, int]]
    #: (resource id, node uname) -> allocation score, in the order Pacemaker prints them
    scores: list[tuple[str, str, int]]
