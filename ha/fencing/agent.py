"""The fence-agent API, without I/O: the request text, the metadata, the result.

Fence agents (Debian's ``fence-agents``: fence_ipmilan, fence_virsh, fence_docker,
fence_dummy, …) read their arguments as ``key=value`` lines on standard input, one per
line, as Pacemaker's fencer sends them (fence-agents' FenceAgentAPI):

- ``action=`` the action: on, off, reboot, status, list, monitor, metadata, …;
- the device's instance attributes, except Pacemaker's own ``pcmk_*`` options (those
  configure the fencer and are never passed to the agent);
- ``nodename=`` the target node's name, whenever there is a target;
- the *host argument*: the parameter that names the target to the device (``plug`` for
  most agents, ``port`` for older ones). It is ``pcmk_host_argument`` when configured
  (``none`` means do not pass one), else ``plug`` — or ``port`` — when the agent's
  metadata has that parameter, else nothing. Its value is the target as mapped by
  ``pcmk_host_map``; a value the device's own attributes already set is kept.

Exit status: 0 success; for ``status`` 0 means on, 2 off, anything else an error; any
non-zero status of another action is a failure (see :func:`judge`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from ha.executor.metadata import MetadataError as MetadataError  # re-exported
from ha.executor.metadata import Parameter
from ha.executor.metadata import parse_metadata as parse_agent_metadata

STATUS_ON, STATUS_OFF = 0, 2
HOST_ARG_CANDIDATES = ("plug", "port")


@dataclass(frozen=True)
class AgentMetadata:
    """What ``action=metadata`` says about an agent."""

    name: str
    shortdesc: str = ""
    longdesc: str = ""
    parameters: tuple[Parameter, ...] = ()      # as the executor's meta-data reader gives
    actions: tuple[str, ...] = ()
    automatic_on: bool = False           # <action name="on" automatic="1"/>: unfencing
    param_names: frozenset[str] = field(default=frozenset(), compare=False)

    def has_parameter(self, name: str) -> bool:
        return name in self.param_names

    def supports(self, action: str) -> bool:
        return action in self.actions

    def default_host_argument(self) -> str | None:
        """``plug``, else ``port``, when the agent takes one; else None (no host argument)."""
        return next((p for p in HOST_ARG_CANDIDATES if self.has_parameter(p)), None)

    def as_json(self) -> dict[str, object]:
        return {"name": self.name, "shortdesc": self.shortdesc, "longdesc": self.longdesc,
                "parameters": [{"name": p.name, "type": p.type, "default": p.default,
                                "required": p.required, "shortdesc": p.shortdesc,
                                "deprecated": p.deprecated, "obsoletes": p.obsoletes}
                               for p in self.parameters],
                "actions": list(self.actions), "automatic_on": self.automatic_on}


def parse_metadata(xml_text: str) -> AgentMetadata:
    """Parse the ``<resource-agent>`` XML an agent prints for ``action=metadata``.

    Fence agents print the same meta-data format as resource agents, so it is read by
    :func:`ha.executor.metadata.parse_metadata` and seen here as the fencer needs it.
    Raises MetadataError naming what was wrong (not XML, wrong root, a parameter
    without a name)."""
    md = parse_agent_metadata(xml_text, "metadata")
    params = md.parameters
    actions = tuple(dict.fromkeys(a.name for a in md.actions))
    return AgentMetadata(
        name=md.name, shortdesc=md.shortdesc, longdesc=md.longdesc, parameters=params,
        actions=actions, automatic_on=any(a.name == "on" and a.automatic for a in md.actions),
        param_names=frozenset(p.name for p in params))


def is_pcmk_option(name: str) -> bool:
    """Pacemaker's fencer options, never passed to the agent: ``pcmk_*`` and the
    device's ``provides`` (unfencing) and ``stonith-timeout`` (a per-device override
    older configurations carry)."""
    return name.startswith("pcmk_") or name in ("provides", "stonith-timeout")


def agent_stdin(params: dict[str, str], action: str, target: str | None,
                host_arg: str | None) -> str:
    """The text written to a fence agent's standard input.

    ``params`` are the device's instance attributes (``pcmk_*`` options among them are
    left out here); ``host_arg`` is the parameter that names the target to the device
    (already resolved: see :func:`host_argument`), or None; its value is ``target``
    unless ``params`` sets it. ``target`` is also passed as ``nodename``.
    Values holding a newline are refused: the protocol is one line per argument."""
    lines = [f"action={action}"]
    for key, value in params.items():
        if is_pcmk_option(key) or key in ("action", "nodename"):
            continue
        lines.append(f"{key}={value}")
    if target is not None:
        lines.append(f"nodename={target}")
        if host_arg and host_arg not in params:
            lines.append(f"{host_arg}={target}")
    for line in lines:
        if "\n" in line or "\r" in line or "=" not in line or line.startswith("="):
            raise ValueError(f"fence agent argument {line.split('=')[0]!r}: a name and a "
                             "one-line value are required")
    return "".join(line + "\n" for line in lines)


def host_argument(pcmk_host_argument: str | None, metadata: AgentMetadata | None) -> str | None:
    """Which parameter names the target: ``pcmk_host_argument`` (``none``: no
    parameter), else ``plug``/``port`` when the metadata has it, else None."""
    if pcmk_host_argument:
        return None if pcmk_host_argument.lower() == "none" else pcmk_host_argument
    return metadata.default_host_argument() if metadata is not None else None


def judge(action: str, rc: int, timed_out: bool) -> tuple[bool, str]:
    """Whether an agent's result is a success, and a reason in Pacemaker's words.

    For ``status`` both 0 (on) and 2 (off) are answers (the device could tell)."""
    if timed_out:
        return False, "timed out"
    if rc == 0:
        return True, "ok"
    if action == "status" and rc == STATUS_OFF:
        return True, "off"
    return False, f"agent exited with status {rc}"


def parse_list_output(stdout: str) -> list[str]:
    """The targets a ``list`` action reported: one per line, ``plug[,alias]`` (the
    alias is a name too), blank lines and status words left out."""
    out: list[str] = []
    for line in stdout.splitlines():
        for f in re.split(r"[,;\s]+", line):
            if f and f.lower() not in ("on", "off") and f not in out:
                out.append(f)
    return out
