"""A resource agent's name: standard (class), provider and type, as in the CIB's
``<primitive class="ocf" provider="heartbeat" type="Dummy">`` and as the tools spell
it, ``ocf:heartbeat:Dummy`` or ``lsb:myservice``.

Only the standards this executor runs are accepted: ``ocf`` (which needs a
provider) and ``lsb`` (which has none). ``service`` and ``systemd`` are refused with
a message saying so rather than run some other way.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

STANDARDS = ("ocf", "lsb")
# a provider or type must be a file name: no path separators, no leading dot
_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.+@-]*")

# The actions an OCF agent may be asked for (the OCF RA API 1.1 and Pacemaker's own).
OCF_ACTIONS = ("start", "stop", "monitor", "promote", "demote", "notify", "reload",
               "reload-agent", "migrate_to", "migrate_from", "meta-data", "validate-all")
# LSB init scripts know these; "monitor" is run as "status", as Pacemaker runs it. Their
# meta-data is not asked of the script but made from its INIT INFO block (metadata.py).
LSB_ACTIONS = ("start", "stop", "monitor", "status", "restart", "force-reload")


class AgentError(ValueError):
    """A caller named an agent or action this executor cannot run."""


@dataclass(frozen=True, order=True)
class ResourceAgent:
    standard: str
    provider: str | None
    type: str

    def __str__(self) -> str:
        if self.provider:
            return f"{self.standard}:{self.provider}:{self.type}"
        return f"{self.standard}:{self.type}"

    @classmethod
    def parse(cls, spec: str) -> ResourceAgent:
        """``ocf:heartbeat:Dummy`` or ``lsb:name``; refused with the reason otherwise."""
        parts = spec.split(":")
        if len(parts) == 3:
            standard, provider, type_ = parts
        elif len(parts) == 2:
            standard, provider, type_ = parts[0], None, parts[1]
        else:
            raise AgentError(f"{spec!r}: expected CLASS:PROVIDER:TYPE or CLASS:TYPE "
                             "(e.g. ocf:heartbeat:Dummy, lsb:myservice)")
        return cls.of(standard, provider, type_)

    @classmethod
    def of(cls, standard: str | None, provider: str | None, type_: str | None) -> ResourceAgent:
        """The agent of a CIB primitive's class, provider and type attributes."""
        std = (standard or "").lower()
        if std not in STANDARDS:
            raise AgentError(f"class {standard!r} is not supported (supported: "
                             f"{', '.join(STANDARDS)}; stonith devices belong to the fencer)")
        if not type_ or not _NAME.fullmatch(type_):
            raise AgentError(f"type {type_!r} is not a valid agent name")
        if std == "ocf":
            if not provider or not _NAME.fullmatch(provider):
                raise AgentError(f"ocf:{provider or ''}:{type_}: an OCF agent needs a "
                                 "provider (e.g. heartbeat, pacemaker)")
        elif provider:
            raise AgentError(f"{std}:{provider}:{type_}: class {std} takes no provider")
        return cls(std, provider if std == "ocf" else None, type_)

    def actions(self) -> tuple[str, ...]:
        return OCF_ACTIONS if self.standard == "ocf" else LSB_ACTIONS

    def relpath(self) -> str:
        """Where the agent lives under its search directory: ``PROVIDER/TYPE`` under an
        OCF ``resource.d`` directory, ``TYPE`` under an init-script directory."""
        return f"{self.provider}/{self.type}" if self.standard == "ocf" else self.type
