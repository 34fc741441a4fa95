"""Node health (``node-health-strategy``): ``#health-*`` node attributes as location
scores.

Each ``#health…`` attribute of a node is ``red``, ``yellow``, ``green`` or a score.
Pacemaker's rules: under ``migrate-on-red`` red is -INFINITY (yellow and green 0);
under ``only-green`` red and yellow are -INFINITY; under ``progressive`` and
``custom`` the colours score ``node-health-red`` (default -INFINITY),
``node-health-yellow`` and ``node-health-green`` (default 0). A node's health is
the sum of its attributes' scores (plus ``node-health-base`` under
``progressive``); when not 0 it is a location score of every resource on that node,
except that a resource with ``allow-unhealthy-nodes`` ignores a negative one.
With ``none`` (the default) health is ignored.
"""

from __future__ import annotations

from ha.cib.schema_data import is_pcmk_true
from ha.scheduler.model import INFINITY, Cluster, add_scores, parse_score

STRATEGIES = {"none", "migrate-on-red", "only-green", "progressive", "custom"}


def colour_scores(cluster: Cluster, strategy: str) -> dict[str, int]:
    opts = cluster.options
    if strategy == "migrate-on-red":
        return {"red": -INFINITY, "yellow": 0, "green": 0}
    if strategy == "only-green":
        return {"red": -INFINITY, "yellow": -INFINITY, "green": 0}
    return {"red": parse_score(opts.get("node-health-red", "-INFINITY")),
            "yellow": parse_score(opts.get("node-health-yellow", "0")),
            "green": parse_score(opts.get("node-health-green", "0"))}


def node_health(cluster: Cluster, attrs: dict[str, str], strategy: str) -> int:
    colours = colour_scores(cluster, strategy)
    total = parse_score(cluster.options.get("node-health-base", "0")) \
        if strategy == "progressive" else 0
    for name, value in attrs.items():
        if name.startswith("#health"):
            v = value.strip().lower()
            total = add_scores(total, colours[v] if v in colours else parse_score(value))
    return total


def apply_node_health(cluster: Cluster) -> None:
    """Add each node's health as a location score of every resource there."""
    strategy = cluster.options.get("node-health-strategy", "none").strip().lower()
    if strategy not in STRATEGIES or strategy == "none":
        return
    for node in cluster.nodes:
        health = node_health(cluster, node.attrs, strategy)
        if health == 0:
            continue
        for rsc in cluster.resources:
            if rsc.group is not None and cluster.groups[rsc.group][0] != rsc.id:
                continue  # a group is placed by its first member
            if health < 0 and is_pcmk_true(rsc.meta.get("allow-unhealthy-nodes")):
                continue
            cluster.locations.append((rsc.id, node.uname, health))
