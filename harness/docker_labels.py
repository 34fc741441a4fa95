"""Hastack clusters in Docker found by their labels: list, remove, reap orphans.

Every object a ``DockerCluster`` creates carries ``io.hastack.cluster=<name>`` and
``io.hastack.owner-pid``; ``io.hastack.ephemeral=1`` marks the clusters of tests and
runs, which ``reap_orphans`` removes once their owner process is gone.
"""

from __future__ import annotations

import os
from typing import Any

from harness.docker_exec import DockerError
from harness.image import client, unavailable

L = "io.hastack."


def api() -> Any:
    """The low-level Docker API client; DockerError saying why when Docker is unusable."""
    why = unavailable()
    if why:
        raise DockerError(f"Docker is unavailable: {why}")
    return client().api


def not_found(exc: Exception) -> bool:
    """``exc`` is the engine's 404 (no such container, network, image)."""
    return getattr(getattr(exc, "response", None), "status_code", None) == 404


def _owner_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def clusters() -> list[dict[str, Any]]:
    """Every hastack cluster the engine has: name, nodes, owner pid (alive?), workdir."""
    engine = api()
    found: dict[str, dict[str, Any]] = {}
    objects = [(c["Labels"], c.get("State")) for c in
               engine.containers(all=True, filters={"label": f"{L}cluster"})]
    objects += [(n["Labels"], None) for n in engine.networks(filters={"label": f"{L}cluster"})]
    for labels, state in objects:
        name = labels[f"{L}cluster"]
        pid = int(labels.get(f"{L}owner-pid", "0") or 0)
        c = found.setdefault(name, {"name": name, "nodes": [], "states": {}, "owner_pid": pid,
                                    "owner_alive": _owner_alive(pid) if pid else False,
                                    "workdir": labels.get(f"{L}workdir"),
                                    "ephemeral": labels.get(f"{L}ephemeral") == "1"})
        if f"{L}node" in labels:
            c["nodes"].append(int(labels[f"{L}node"]))
            c["states"][int(labels[f"{L}node"])] = state
    for c in found.values():
        c["nodes"].sort()
    return sorted(found.values(), key=lambda c: str(c["name"]))


def down_by_label(name: str | None = None) -> list[str]:
    """Remove every container and network of cluster ``name`` (or of every hastack
    cluster); returns the names of what it removed."""
    engine = api()
    label = f"{L}cluster={name}" if name is not None else f"{L}cluster"
    gone = []
    for c in engine.containers(all=True, filters={"label": label}):
        cname = c["Names"][0].lstrip("/")
        try:
            engine.remove_container(c["Id"], force=True, v=True)
            gone.append(cname)
        except Exception as exc:
            if not not_found(exc):
                raise DockerError(f"removing container {cname}: {exc}") from None
    for n in engine.networks(filters={"label": label}):
        try:
            engine.remove_network(n["Id"])
            gone.append(n["Name"])
        except Exception as exc:
            if not not_found(exc):
                raise DockerError(f"removing network {n['Name']}: {exc}") from None
    return gone


def reap_orphans() -> list[str]:
    """Remove ephemeral clusters (tests, runs) whose owner process is gone; their names."""
    reaped = []
    for c in clusters():
        if c["ephemeral"] and not c["owner_alive"]:
            down_by_label(c["name"])
            reaped.append(c["name"])
    return reaped
