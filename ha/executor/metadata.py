"""Resource agent meta-data (the OCF RA API's ``<resource-agent>`` XML) as dataclasses.

An OCF agent prints its meta-data for the ``meta-data`` action: parameters (name,
``content`` type and default, required, unique, unique-group, reloadable, deprecated)
and advertised actions (name, timeout, interval, depth, role, start-delay). For an
LSB init script, meta-data is made from its "INIT INFO" comment block, as Pacemaker
makes it: the script has no parameters and the LSB actions.

Malformed meta-data is refused with :class:`MetadataError` naming the agent and
element; durations are read as Pacemaker reads them (``20s``, ``20``, ``PT20S``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from html import escape
from typing import Any

from lxml import etree

from ha.cib.schema_data import duration_ms, is_pcmk_true


class MetadataError(ValueError):
    """An agent's meta-data could not be read."""


@dataclass(frozen=True)
class Parameter:
    name: str
    type: str = "string"
    default: str | None = None
    required: bool = False
    unique: bool = False
    unique_group: str | None = None
    reloadable: bool = False
    deprecated: bool = False
    shortdesc: str = ""
    longdesc: str = ""
    values: tuple[str, ...] = ()          # the options of a type="select" parameter
    obsoletes: str | None = None          # fence agents: the older name it replaces


@dataclass(frozen=True)
class AgentAction:
    name: str
    timeout_ms: int | None = None
    interval_ms: int = 0
    depth: int | None = None
    role: str | None = None
    start_delay_ms: int | None = None
    automatic: bool = False               # fence agents: <action name="on" automatic="1"/>


@dataclass(frozen=True)
class AgentMetadata:
    name: str
    version: str = ""
    ocf_version: str = ""
    shortdesc: str = ""
    longdesc: str = ""
    parameters: tuple[Parameter, ...] = ()
    actions: tuple[AgentAction, ...] = field(default_factory=tuple)

    def parameter(self, name: str) -> Parameter | None:
        return next((p for p in self.parameters if p.name == name), None)

    def action(self, name: str, interval_ms: int | None = None) -> AgentAction | None:
        """The advertised action ``name`` (with that interval, when given)."""
        return next((a for a in self.actions if a.name == name
                     and (interval_ms is None or a.interval_ms == interval_ms)), None)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["parameters"] = [asdict(p) | {"values": list(p.values)} for p in self.parameters]
        out["actions"] = [asdict(a) for a in self.actions]
        return out


def _text(el: etree._Element, tag: str) -> str:
    """The English (or only) text of a shortdesc/longdesc child, whitespace-trimmed."""
    found = el.findall(tag)
    chosen = next((f for f in found if f.get("lang", "en") == "en"), found[0] if found else None)
    return " ".join((chosen.text or "").split()) if chosen is not None else ""


def _duration(el: etree._Element, attr: str, where: str) -> int | None:
    raw = el.get(attr)
    if raw is None or raw == "":
        return None
    ms = duration_ms(raw.strip())
    if ms is None:
        raise MetadataError(f"{where}: {attr}={raw!r} is not a duration")
    return ms


def _parameter(el: etree._Element, source: str, number: int) -> Parameter:
    name = el.get("name")
    if not name:
        raise MetadataError(f"{source}: parameter #{number} has no name "
                            f"(line {el.sourceline})")
    content = el.find("content")
    ptype, default, values = "string", None, tuple[str, ...]()
    if content is not None:
        ptype = content.get("type", "string")
        default = content.get("default")
        values = tuple(o.get("value", "") for o in content.findall("option"))
    return Parameter(name=name, type=ptype, default=default,
                     required=is_pcmk_true(el.get("required", "0")),
                     unique=is_pcmk_true(el.get("unique", "0")),
                     unique_group=el.get("unique-group"),
                     reloadable=is_pcmk_true(el.get("reloadable", "0")),
                     deprecated=el.find("deprecated") is not None
                     or is_pcmk_true(el.get("deprecated", "0")),
                     shortdesc=_text(el, "shortdesc"), longdesc=_text(el, "longdesc"),
                     values=values, obsoletes=el.get("obsoletes"))


def _action(el: etree._Element, source: str) -> AgentAction:
    name = el.get("name")
    if not name:
        raise MetadataError(f"{source}: <action> without a name (line {el.sourceline})")
    where = f"{source}: action {name}"
    depth = el.get("depth")
    try:
        depth_n = int(depth) if depth not in (None, "") else None
    except ValueError:
        raise MetadataError(f"{where}: depth={depth!r} is not an integer") from None
    return AgentAction(name=name, timeout_ms=_duration(el, "timeout", where),
                       interval_ms=_duration(el, "interval", where) or 0, depth=depth_n,
                       role=el.get("role"), start_delay_ms=_duration(el, "start-delay", where),
                       automatic=is_pcmk_true(el.get("automatic", "0")))


def parse_metadata(data: bytes | str, source: str = "meta-data") -> AgentMetadata:
    """An agent's meta-data XML as :class:`AgentMetadata`."""
    raw = data.encode() if isinstance(data, str) else data
    if not raw.strip():
        raise MetadataError(f"{source}: the agent printed no meta-data")
    parser = etree.XMLParser(resolve_entities=False, no_network=True, remove_comments=True)
    try:
        root = etree.fromstring(raw.strip(), parser)
    except etree.XMLSyntaxError as exc:
        raise MetadataError(f"{source}: not XML (not well-formed): {exc}") from None
    if root.tag != "resource-agent":
        raise MetadataError(f"{source}: expected <resource-agent>, got <{root.tag}>")
    params = root.find("parameters")
    actions = root.find("actions")
    version = root.find("version")
    return AgentMetadata(
        name=root.get("name", ""), version=root.get("version", ""),
        ocf_version=(version.text or "").strip() if version is not None else "",
        # fence agents carry their shortdesc as an attribute of the root
        shortdesc=_text(root, "shortdesc") or " ".join(root.get("shortdesc", "").split()),
        longdesc=_text(root, "longdesc"),
        parameters=tuple(_parameter(p, source, i)
                         for i, p in enumerate(params.findall("parameter"), 1))
        if params is not None else (),
        actions=tuple(_action(a, source) for a in actions.findall("action"))
        if actions is not None else ())


LSB_INFO_KEYS = ("Provides", "Required-Start", "Required-Stop", "Should-Start",
                 "Should-Stop", "Default-Start", "Default-Stop", "Short-Description",
                 "Description")


def lsb_header(script: str) -> dict[str, str]:
    """The fields of an init script's ``### BEGIN INIT INFO`` block (LSB 3.0 §20.3);
    a Description continues on lines starting with '#' and a tab or two spaces."""
    fields: dict[str, str] = {}
    inside, last = False, ""
    for line in script.splitlines():
        if line.startswith("### BEGIN INIT INFO"):
            inside = True
            continue
        if line.startswith("### END INIT INFO"):
            break
        if not inside or not line.startswith("#"):
            continue
        body = line[1:]
        key, sep, value = body.strip().partition(":")
        if sep and key in LSB_INFO_KEYS:
            last = key
            fields[key] = value.strip()
        elif last == "Description" and (body.startswith("\t") or body.startswith("  ")):
            fields[last] += " " + body.strip()
    return fields


def lsb_metadata_xml(name: str, script: str) -> str:
    """Meta-data XML for an LSB init script, made from its INIT INFO block."""
    info = lsb_header(script)
    short = escape(info.get("Short-Description", name))
    long_ = escape(info.get("Description", short))
    actions = "".join(f'    <action name="{a}" timeout="15s"{extra}/>\n' for a, extra in (
        ("meta-data", ""), ("start", ""), ("stop", ""), ("status", ""), ("restart", ""),
        ("force-reload", ""), ("monitor", ' interval="15s"')))
    special = "".join(f"    <lsb:{k.lower()}>{escape(v)}</lsb:{k.lower()}>\n"
                      for k, v in info.items() if k not in ("Short-Description",
                                                            "Description"))
    return (f'<?xml version="1.0"?>\n<resource-agent name="{escape(name)}" version="0.1">\n'
            f'  <version>1.0</version>\n  <longdesc lang="en">{long_}</longdesc>\n'
            f'  <shortdesc lang="en">{short}</shortdesc>\n  <parameters/>\n'
            f'  <actions>\n{actions}  </actions>\n'
            f'  <special tag="LSB" xmlns:lsb="http://linux-foundation.org/lsb">\n{special}'
            f'  </special>\n</resource-agent>\n')
