"""Fence devices as the CIB configures them, and Pacemaker's ``pcmk_*`` options.

A fence device is a ``<primitive class="stonith" type="fence_…">``; its
``instance_attributes`` are the agent's parameters plus Pacemaker's own options (which
the agent never sees, see ``ha.fencing.agent``):

- ``pcmk_host_list``: the nodes it can fence (space, comma or semicolon separated);
- ``pcmk_host_map``: ``node:plug`` pairs (``=`` also accepted; ``;``, ``,`` or space
  between pairs): the host argument's value for a node, and the nodes it can fence;
- ``pcmk_host_check``: how to tell whether it can fence a node — ``static-list``,
  ``dynamic-list`` (ask the agent's ``list`` action), ``status`` (ask ``status`` for
  that node), ``none`` (every node). Pacemaker's default: ``static-list`` when a host
  list or map is set, else ``dynamic-list`` when the agent supports ``list``, else
  ``status`` when it supports ``status``, else ``none``;
- ``pcmk_host_argument``: the parameter naming the target (``none``: none);
- ``pcmk_<action>_action`` (the agent's action for ours, e.g. ``pcmk_reboot_action=off``),
  ``pcmk_<action>_timeout`` (default: the ``stonith-timeout`` cluster property, 60 s),
  ``pcmk_<action>_retries`` (attempts within that timeout, default 2);
- ``pcmk_delay_base`` (a fixed delay, or ``node:delay`` pairs) and ``pcmk_delay_max``
  (a random delay up to that, drawn from the injected generator) before a fencing
  action (off, reboot): one node of a two-node cluster waits, so both do not shoot.

A device whose ``target-role`` is ``Stopped`` (or which is inside a disabled group) is
not used. Meta attribute ``priority`` orders devices (higher first, then by id), as
Pacemaker orders devices able to fence the same node.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from lxml import etree

from ha.cib.schema_data import duration_ms, is_pcmk_true
from ha.scheduler.rules import attribute_sets

DEFAULT_STONITH_TIMEOUT_S = 60.0
DEFAULT_RETRIES = 2
HOST_CHECKS = ("static-list", "dynamic-list", "status", "none")
FENCING_ACTIONS = ("off", "reboot")          # the actions a delay applies to
ACTIONS = ("on", "off", "reboot", "status", "list", "monitor")
_SEP = re.compile(r"[\s,;]+")


class DeviceConfigError(ValueError):
    """A fence device's configuration cannot be used; names the device and option."""


def _nvpairs(parent: etree._Element | None, tag: str) -> dict[str, str]:
    """name -> value of ``parent``'s ``tag`` sets as Pacemaker reads them (the
    scheduler's reader: sets by score, rules, id-refs, ``#default``)."""
    return attribute_sets(parent, tag, None)


def seconds(value: str, what: str) -> float:
    """A Pacemaker duration in seconds; DeviceConfigError naming ``what`` if unreadable."""
    ms = duration_ms(value.strip())
    if ms is None:
        raise DeviceConfigError(f"{what}: '{value}' is not a duration (e.g. 60s, 500ms, 2min)")
    return ms / 1000.0


def parse_host_list(text: str) -> tuple[str, ...]:
    return tuple(h for h in _SEP.split(text.strip()) if h)


def parse_host_map(text: str, what: str = "pcmk_host_map") -> dict[str, str]:
    """``node1:plug1;node2=plug2`` → {node: plug}."""
    out: dict[str, str] = {}
    for item in _SEP.split(text.strip()):
        if not item:
            continue
        m = re.fullmatch(r"([^:=]+)[:=](.*)", item)
        if m is None or not m.group(2):
            raise DeviceConfigError(f"{what}: '{item}' is not node:value")
        out[m.group(1)] = m.group(2)
    return out


@dataclass(frozen=True)
class FenceDevice:
    """One configured fence device (see the module docstring for the options)."""

    id: str
    agent: str
    params: dict[str, str]                 # every instance attribute, pcmk_* included
    priority: int = 0
    host_list: tuple[str, ...] = ()
    host_map: dict[str, str] = field(default_factory=dict)
    host_check: str | None = None          # None: decided from metadata (see host_check_for)
    host_argument: str | None = None       # pcmk_host_argument as configured
    delay_base_s: float = 0.0
    delay_base_by_node: dict[str, float] = field(default_factory=dict)
    delay_max_s: float = 0.0

    def agent_params(self) -> dict[str, str]:
        return {k: v for k, v in self.params.items() if not k.startswith("pcmk_")}

    def action_for(self, action: str) -> str:
        """The agent's action for ours (``pcmk_<action>_action``)."""
        return self.params.get(f"pcmk_{action}_action") or action

    def timeout_for(self, action: str, stonith_timeout_s: float) -> float:
        """``pcmk_<action>_timeout``, else ``stonith-timeout``: how long the agent may run.
        (The whole operation gets 1.2 times the sum: see ``ha.fencing.plan``.)"""
        v = self.params.get(f"pcmk_{action}_timeout")
        return seconds(v, f"{self.id}: pcmk_{action}_timeout") if v else stonith_timeout_s

    def retries_for(self, action: str) -> int:
        """``pcmk_<action>_retries``: attempts of the action within its timeout."""
        v = self.params.get(f"pcmk_{action}_retries")
        if v is None:
            return DEFAULT_RETRIES
        try:
            n = int(v)
        except ValueError:
            raise DeviceConfigError(f"{self.id}: pcmk_{action}_retries '{v}' is not an "
                                    "integer") from None
        return max(n, 1)

    def delay_base_for(self, target: str) -> float:
        return self.delay_base_by_node.get(target, self.delay_base_s)

    def host_value(self, target: str) -> str:
        """The host argument's value for ``target`` (mapped by pcmk_host_map)."""
        return self.host_map.get(target, target)

    def static_targets(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys((*self.host_list, *self.host_map)))

    def host_check_for(self, supports_list: bool, supports_status: bool) -> str:
        """``pcmk_host_check`` as configured, else Pacemaker's default."""
        if self.host_check:
            return self.host_check
        if self.host_list or self.host_map:
            return "static-list"
        if supports_list:
            return "dynamic-list"
        if supports_status:
            return "status"
        return "none"


def device_from_primitive(prim: etree._Element) -> FenceDevice:
    rid = prim.get("id") or "?"
    agent = prim.get("type") or ""
    if not agent:
        raise DeviceConfigError(f"fence device '{rid}': no type (the fence agent)")
    params = _nvpairs(prim, "instance_attributes")
    meta = _nvpairs(prim, "meta_attributes")
    try:
        priority = int(meta.get("priority", "0"))
    except ValueError:
        raise DeviceConfigError(f"fence device '{rid}': priority '{meta['priority']}' is not "
                                "an integer") from None
    check = params.get("pcmk_host_check")
    if check is not None and check not in HOST_CHECKS:
        raise DeviceConfigError(f"fence device '{rid}': pcmk_host_check '{check}' (expected "
                                f"one of {', '.join(HOST_CHECKS)})")
    base_text = params.get("pcmk_delay_base", "")
    base_s, base_map = 0.0, {}
    if base_text:
        if ":" in base_text or "=" in base_text:
            base_map = {n: seconds(v, f"{rid}: pcmk_delay_base for {n}")
                        for n, v in parse_host_map(base_text, f"{rid}: pcmk_delay_base").items()}
        else:
            base_s = seconds(base_text, f"{rid}: pcmk_delay_base")
    for key, value in params.items():      # refused now, not when fencing is under way
        if re.fullmatch(r"pcmk_\w+_timeout", key):
            seconds(value, f"{rid}: {key}")
        elif re.fullmatch(r"pcmk_\w+_retries", key) and not value.strip().isdigit():
            raise DeviceConfigError(f"{rid}: {key} '{value}' is not an integer")
    max_text = params.get("pcmk_delay_max", "")
    return FenceDevice(
        id=rid, agent=agent, params=params, priority=priority,
        host_list=parse_host_list(params.get("pcmk_host_list", "")),
        host_map=parse_host_map(params.get("pcmk_host_map", ""), f"{rid}: pcmk_host_map"),
        host_check=check, host_argument=params.get("pcmk_host_argument"),
        delay_base_s=base_s, delay_base_by_node=base_map,
        delay_max_s=seconds(max_text, f"{rid}: pcmk_delay_max") if max_text else 0.0)


def _disabled(el: etree._Element) -> bool:
    """target-role=Stopped on the primitive or an enclosing group/clone."""
    node: etree._Element | None = el
    while node is not None and node.tag != "resources":
        role = _nvpairs(node, "meta_attributes").get("target-role", "")
        if role.lower() == "stopped":
            return True
        node = node.getparent()
    return False


def devices_from_cib(root: etree._Element) -> tuple[dict[str, FenceDevice], list[str]]:
    """The usable fence devices, and one message per device left out (and why)."""
    devices: dict[str, FenceDevice] = {}
    problems: list[str] = []
    for prim in root.iterfind(".//configuration/resources//primitive[@class='stonith']"):
        rid = prim.get("id") or "?"
        if _disabled(prim):
            problems.append(f"fence device '{rid}': disabled (target-role=Stopped)")
            continue
        try:
            devices[rid] = device_from_primitive(prim)
        except DeviceConfigError as e:
            problems.append(str(e))
    return devices, problems


def cluster_options(root: etree._Element) -> dict[str, str]:
    """The crm_config properties (all property sets, first value wins)."""
    return _nvpairs(root.find("configuration/crm_config"), "cluster_property_set")


def stonith_timeout_s(root: etree._Element) -> float:
    v = cluster_options(root).get("stonith-timeout")
    try:
        return seconds(v, "stonith-timeout") if v else DEFAULT_STONITH_TIMEOUT_S
    except DeviceConfigError:
        return DEFAULT_STONITH_TIMEOUT_S


def stonith_enabled(root: etree._Element) -> bool:
    v = cluster_options(root).get("stonith-enabled")
    return True if v is None else is_pcmk_true(v)


def node_attributes(root: etree._Element) -> dict[str, dict[str, str]]:
    """Each node's ``instance_attributes`` (for fencing levels by target-attribute)."""
    out: dict[str, dict[str, str]] = {}
    for node in root.iterfind("configuration/nodes/node"):
        name = node.get("uname") or node.get("id") or ""
        out[name] = _nvpairs(node, "instance_attributes")
    return out
