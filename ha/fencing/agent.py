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

from lxml import etree

STATUS_ON, STATUS_OFF = 0, 2
HOST_ARG_CANDIDATES = ("plug", "port")


class MetadataError(ValueError):
    """An agent's metadata was not the resource-agent XML the API describes."""


@dataclass(frozen=True)
class AgentParameter:
    """One ``<parameter>`` of the agent's metadata."""

    name: str
    type: str = "string"
    default: str | None = None
    required: bool = False
    shortdesc: str = ""
    deprecated: bool = False
    obsoletes: str | None = None

    def as_json(self) -> dict[str, object]:
        return {"name": self.name, "type": self.type, "default": self.default,
                "required": self.required, "shortdesc": self.shortdesc,
                "deprecated": self.deprecated, "obsoletes": self.obsoletes}


@dataclass(frozen=True)
class AgentMetadata:
    """What ``action=metadata`` says about an agent."""

    name: str
    shortdesc: str = ""
    longdesc: str = ""
    parameters: tuple[AgentParameter, ...] = ()
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
                "parameters": [p.as_json() for p in self.parameters],
                "actions": list(self.actions), "automatic_on": self.automatic_on}


def _text(el: etree._Element | None) -> str:
    if el is None:
        return ""
    return " ".join("".join(str(t) for t in el.itertext()).split())


def parse_metadata(xml_text: str) -> AgentMetadata:
    """Parse the ``<resource-agent>`` XML an agent prints for ``action=metadata``.

    Raises MetadataError naming what was wrong (not XML, wrong root, a parameter
    without a name)."""
    try:
        parser = etree.XMLParser(resolve_entities=False, no_network=True, recover=False)
        root = etree.fromstring(xml_text.strip().encode(), parser)
    except etree.XMLSyntaxError as e:
        raise MetadataError(f"metadata: not XML: {e}") from None
    if root.tag != "resource-agent":
        raise MetadataError(f"metadata: expected <resource-agent>, found <{root.tag}>")
    params: list[AgentParameter] = []
    for i, p in enumerate(root.iterfind("parameters/parameter"), 1):
        name = p.get("name")
        if not name:
            raise MetadataError(f"metadata: parameter #{i} has no name")
        content = p.find("content")
        shortdesc = p.find("shortdesc")
        params.append(AgentParameter(
            name=name,
            type=(content.get("type") if content is not None else None) or "string",
            default=content.get("default") if content is not None else None,
            required=p.get("required") == "1",
            shortdesc=_text(shortdesc),
            deprecated=p.get("deprecated") == "1",
            obsoletes=p.get("obsoletes")))
    actions: list[str] = []
    automatic = False
    for a in root.iterfind("actions/action"):
        name = a.get("name")
        if name and name not in actions:
            actions.append(name)
        if name == "on" and a.get("automatic") in ("1", "true", "yes"):
            automatic = True
    return AgentMetadata(
        name=root.get("name") or "", shortdesc=root.get("shortdesc") or _text(root.find("shortdesc")),
        longdesc=_text(root.find("longdesc")), parameters=tuple(params), actions=tuple(actions),
        automatic_on=automatic, param_names=frozenset(p.name for p in params))


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
