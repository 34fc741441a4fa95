"""Where resource agents live on this machine, and what they say about themselves.

OCF agents are found along an OCF RA path (Pacemaker's ``PCMK__OCF_RA_PATH``, by
default ``$OCF_ROOT/resource.d``; ``HASTACK_OCF_RA_PATH`` or the constructor may add
directories, colon-separated), each agent being ``<dir>/<provider>/<type>``. LSB init
scripts are found in ``/etc/init.d`` (``HASTACK_LSB_DIRS`` adds others). An agent is
listed, and located, only if it is an executable regular file.

``ha resource agents`` lists standards, providers and agents the way
``crm_resource --list-standards``, ``--list-ocf-providers`` and ``--list-agents``
do; ``ha resource describe`` reads meta-data through :func:`agent_metadata`.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from ha.executor.agent import STANDARDS, ResourceAgent
from ha.executor.environment import OCF_ROOT
from ha.executor.metadata import lsb_metadata_xml

LSB_DIR = "/etc/init.d"


def _executable(path: Path) -> bool:
    return path.is_file() and os.access(path, os.X_OK)


def _env_dirs(name: str) -> list[str]:
    return [d for d in os.environ.get(name, "").split(":") if d]


def _absolute(dirs: Sequence[str]) -> list[str]:
    """Absolute paths: agents run with cwd /, so a relative one would not be found."""
    return [os.path.abspath(d) for d in dirs]


class AgentDirectory:
    """The OCF and LSB agents installed here, searched in path order (first wins)."""

    def __init__(self, ocf_root: str | None = None, ra_path: Sequence[str] | None = None,
                 lsb_dirs: Sequence[str] | None = None) -> None:
        self.ocf_root = ocf_root or os.environ.get("OCF_ROOT") or OCF_ROOT
        self.ra_path = _absolute(ra_path if ra_path is not None else (
            _env_dirs("HASTACK_OCF_RA_PATH") + [os.path.join(self.ocf_root, "resource.d")]))
        self.lsb_dirs = _absolute(lsb_dirs if lsb_dirs is not None else (
            _env_dirs("HASTACK_LSB_DIRS") + [LSB_DIR]))

    def locate(self, agent: ResourceAgent) -> str | None:
        """The agent's executable, or None when it is not installed."""
        dirs = self.ra_path if agent.standard == "ocf" else self.lsb_dirs
        for d in dirs:
            candidate = Path(d) / agent.relpath()
            if _executable(candidate):
                return str(candidate)
        return None

    def standards(self) -> list[str]:
        return list(STANDARDS)

    def providers(self, agent_type: str | None = None) -> list[str]:
        """OCF providers (those that have ``agent_type``, when given)."""
        found: set[str] = set()
        for d in self.ra_path:
            base = Path(d)
            if not base.is_dir():
                continue
            for p in base.iterdir():
                if p.is_dir() and not p.name.startswith(".") and (
                        agent_type is None and any(_executable(f) for f in p.iterdir())
                        or agent_type is not None and _executable(p / agent_type)):
                    found.add(p.name)
        return sorted(found)

    def agents(self, standard: str, provider: str | None = None) -> list[ResourceAgent]:
        """Installed agents of ``standard`` (and ``provider``, for OCF)."""
        out: set[ResourceAgent] = set()
        if standard == "ocf":
            for prov in [provider] if provider else self.providers():
                for d in self.ra_path:
                    pdir = Path(d) / prov
                    if pdir.is_dir():
                        out.update(ResourceAgent("ocf", prov, f.name) for f in pdir.iterdir()
                                   if _executable(f) and not f.name.startswith("."))
        elif standard == "lsb":
            for d in self.lsb_dirs:
                base = Path(d)
                if base.is_dir():
                    out.update(ResourceAgent("lsb", None, f.name) for f in base.iterdir()
                               if _executable(f) and not f.name.startswith(".")
                               and f.name not in ("README", "skeleton", "rc", "rcS"))
        return sorted(out, key=lambda a: (a.provider or "", a.type.lower(), a.type))

    def lsb_metadata(self, agent: ResourceAgent) -> str | None:
        """Meta-data XML of an LSB init script, from its INIT INFO block."""
        path = self.locate(agent)
        if path is None:
            return None
        try:
            script = Path(path).read_text(encoding="utf-8", errors="replace")
        except OSError:
            return None
        return lsb_metadata_xml(agent.type, script)
