"""The nodelist { }, quorum { } and logging { } sections of corosync.conf.

Each reader takes the parsed sections (:mod:`ha.runtime.corosync_syntax`), appends a
warning line for every option hastack does not use, and raises :class:`ConfigError`
naming the line and option for anything it cannot run with.

Nodelist rules: every ``node { }`` needs ``ring0_addr`` (an IP address or a host name,
kept as written; resolution is the daemon's job) and an explicit ``nodeid`` in
1..2^32-1; node ids, addresses and names are unique; ``quorum_votes`` defaults to 1.

Quorum: without ``provider: corosync_votequorum`` there is no quorum (None), as in
Corosync. The votequorum switches are numbers (0 off). ``expected_votes: 0`` means
unset, as votequorum reads it. Combinations Corosync only logs as wrong and works
around are refused by :class:`ha.totem.quorum.QuorumConfig`; the error is re-raised
naming the quorum option and its line.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

from ha.runtime import corosync_options as opt
from ha.runtime.corosync_syntax import ConfigError, Item, Section, merge
from ha.totem.quorum import QuorumConfig

__all__ = ["LoggingConfig", "NodeEntry", "addr_key", "read_logging", "read_nodelist", "read_quorum"]


@dataclass(frozen=True)
class NodeEntry:
    """One ``nodelist { node { } }``: its id, link-0 address or host name, name, votes."""

    nodeid: int
    ring0_addr: str
    name: str | None
    quorum_votes: int = 1


@dataclass(frozen=True)
class LoggingConfig:
    """The top-level ``logging { }`` switches; defaults are Corosync's (stderr and syslog
    on, no log file, timestamps on — Corosync's default is hires — debug off)."""

    to_stderr: bool = True
    to_logfile: bool = False
    logfile: str | None = None
    to_syslog: bool = True
    timestamp: bool = True
    debug: bool = False


def addr_key(addr: str) -> str:
    """The form under which two spellings of one address compare equal.

    IP literals are normalised (``fe80:0::1`` → ``fe80::1``; an IPv4-mapped IPv6 address,
    as a dual-stack socket reports an IPv4 peer, → the IPv4 address); host names are
    compared case-insensitively, without a trailing dot.
    """
    try:
        ip = ipaddress.ip_address(addr)
    except ValueError:
        return addr.lower().rstrip(".")
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return str(ip.ipv4_mapped)
    return str(ip)


def _warn(warnings: list[str], where: Item | Section, message: str) -> None:
    warnings.append(f"{where.where()}: {message}")


# ---- nodelist { } ---------------------------------------------------------------------
def read_nodelist(sections: list[Section], filename: str, warnings: list[str]) -> list[NodeEntry]:
    """The nodes in file order; a nodelist with at least one node is required."""
    if not sections:
        raise ConfigError("a nodelist { node { ... } } section is required (hastack sends to "
                          "the listed nodes; there is no multicast discovery)",
                          filename=filename, option="nodelist")
    if len(sections) > 1:
        raise sections[1].error(f"nodelist given twice (first at line {sections[0].line}); "
                                f"list every node in one nodelist")
    nodelist = sections[0]
    for item in nodelist.items:
        _warn(warnings, item, "only node { } sections belong in nodelist; ignored")
    nodes: list[NodeEntry] = []
    first_line: dict[tuple[str, object], int] = {}
    for section in nodelist.sections:
        if section.name != "node":
            _warn(warnings, section, "unknown nodelist subsection, ignored")
            continue
        node, items = _node(section, warnings)
        for key, value in (("nodeid", node.nodeid), ("ring0_addr", addr_key(node.ring0_addr)),
                           ("name", node.name)):
            if value is None:
                continue
            if (key, value) in first_line:
                raise items[key].error(f"{items[key].value} is already used by the node at line "
                                       f"{first_line[key, value]}")
            first_line[key, value] = section.line
        _check_family(node, items["ring0_addr"], nodes, first_line)
        nodes.append(node)
    if not nodes:
        raise nodelist.error("no node { } sections; list every cluster node")
    return nodes


def _check_family(node: NodeEntry, item: Item, earlier: list[NodeEntry],
                  first_line: dict[tuple[str, object], int]) -> None:
    """Corosync refuses a link whose node addresses mix IPv4 and IPv6; so does hastack
    (for IP literals: host names are checked by whoever resolves them)."""
    version = _ip_version(node.ring0_addr)
    for other in earlier:
        other_version = _ip_version(other.ring0_addr)
        if version and other_version and version != other_version:
            line = first_line["nodeid", other.nodeid]
            raise item.error(f"an IPv{version} address, but the node at line {line} has an "
                             f"IPv{other_version} one: all nodes of a link use one IP family")


def _ip_version(addr: str) -> int | None:
    try:
        return ipaddress.ip_address(addr).version
    except ValueError:
        return None


def _node(section: Section, warnings: list[str]) -> tuple[NodeEntry, dict[str, Item]]:
    items, inner = merge([section], warnings)
    for sub in inner:
        _warn(warnings, sub, "unknown node subsection, ignored")
    for key, item in items.items():
        if key not in opt.NODE_OPTIONS:
            _warn(warnings, item, "unknown node option, ignored")
        elif key.startswith("ring") and key != "ring0_addr":
            _warn(warnings, item, "hastack uses one link (ring0_addr); ignored")
    addr_item = items.get("ring0_addr")
    if addr_item is None:
        raise ConfigError("node has no ring0_addr (every node needs the address of link 0)",
                          filename=section.filename, line=section.line,
                          option="nodelist.node.ring0_addr")
    addr = opt.text(addr_item)
    if any(c.isspace() for c in addr):
        raise addr_item.error(f"expected one IP address or host name, got {addr!r}")
    id_item = items.get("nodeid")
    if id_item is None:
        raise ConfigError(f"node {addr} has no nodeid; hastack requires an explicit nodeid for "
                          f"every node (Corosync derives one from an IPv4 ring0_addr only "
                          f"with udpu/udp)", filename=section.filename, line=section.line,
                          option="nodelist.node.nodeid")
    nodeid = opt.integer(id_item, 1, opt.U32, "a node id in 1..4294967295")
    name = opt.text(items["name"]) if "name" in items else None
    votes = opt.integer(items["quorum_votes"], 0, opt.U32) if "quorum_votes" in items else 1
    return NodeEntry(nodeid, addr, name, votes), items


# ---- quorum { } -----------------------------------------------------------------------
def read_quorum(sections: list[Section], nodes: list[NodeEntry], filename: str,
                warnings: list[str]) -> QuorumConfig | None:
    items, subsections = merge(sections, warnings)
    for sub in subsections:
        _warn(warnings, sub, "quorum devices (qdevice) are not supported by hastack; ignored"
              if sub.name == "device" else "unknown quorum subsection, ignored")
    provider = items.get("provider")
    if provider is None:
        for item in items.values():
            _warn(warnings, item, "no quorum provider is set, so votequorum is off; ignored")
        return None
    if provider.value != "corosync_votequorum":
        raise provider.error(f"expected corosync_votequorum (the only quorum provider), "
                             f"got {provider.value!r}")
    switches = {key: opt.switch01(items[key]) for key in opt.QUORUM_SWITCHES if key in items}
    for key, item in items.items():
        if key in opt.QUORUM_OTHER:
            if note := opt.QUORUM_OTHER[key]:
                _warn(warnings, item, note)
        elif key not in opt.QUORUM_SWITCHES:
            _warn(warnings, item, "unknown quorum option, ignored")
    expected = items.get("expected_votes")
    window = items.get("last_man_standing_window")
    atb_item = items.get("auto_tie_breaker_node")
    atb_node = _atb_node(atb_item) if atb_item else "lowest"
    if atb_item and not switches.get("auto_tie_breaker"):
        _warn(warnings, atb_item, "has no effect without auto_tie_breaker: 1")
    try:
        return QuorumConfig(
            votes={n.nodeid: n.quorum_votes for n in nodes},
            expected_votes=(opt.integer(expected, 0, opt.U32) or None) if expected else None,
            two_node=switches.get("two_node", False),
            wait_for_all=switches.get("wait_for_all"),
            last_man_standing=switches.get("last_man_standing", False),
            last_man_standing_window_ms=(
                opt.integer(window, 1, opt.U32, "a positive integer (milliseconds)")
                if window else 10000),
            auto_tie_breaker=switches.get("auto_tie_breaker", False),
            auto_tie_breaker_node=atb_node,
        )
    except ValueError as exc:
        if isinstance(exc, ConfigError):
            raise
        raise _quorum_error(str(exc), items, sections, filename) from None


def _atb_node(item: Item) -> str | tuple[int, ...]:
    """``lowest``, ``highest`` or node ids separated by blanks, tried in that order."""
    if item.value in ("lowest", "highest"):
        return item.value
    words = item.value.split()
    if not words or not all(re.fullmatch(r"[0-9]{1,10}", w) and 1 <= int(w) <= opt.U32
                            for w in words):
        raise item.error(f"expected lowest, highest or node ids separated by spaces, "
                         f"got {item.value!r}")
    return tuple(int(w) for w in words)


def _quorum_error(message: str, items: dict[str, Item], sections: list[Section],
                  filename: str) -> ConfigError:
    key, sep, rest = message.partition(": ")
    if not sep:
        key, rest = "", message
    if key == "votes":
        return ConfigError(rest, filename=filename, option="nodelist.node.quorum_votes")
    key = key.removesuffix("_ms")
    item = items.get(key)
    line = item.line if item else (sections[0].line if sections else None)
    return ConfigError(rest, filename=filename, line=line,
                       option=f"quorum.{key}" if key else "quorum")


# ---- logging { } ----------------------------------------------------------------------
def read_logging(sections: list[Section], warnings: list[str]) -> LoggingConfig:
    items, subsections = merge(sections, warnings)
    for key, item in items.items():
        allowed = opt.LOG_TOP_OPTIONS.get(key, opt.LOG_SUBSYS_OPTIONS.get(key, ()))
        if key not in opt.LOG_TOP_OPTIONS and key not in opt.LOG_SUBSYS_OPTIONS:
            _warn(warnings, item, "unknown logging option, ignored")
        elif allowed:
            opt.choice(item, allowed)
        else:
            opt.text(item)
    for sub in subsections:
        if sub.name == "logger_subsys":
            _logger_subsys(sub, warnings)
        elif sub.name == "logging_daemon":
            _warn(warnings, sub, "obsolete (Corosync 1) section, ignored")
        else:
            _warn(warnings, sub, "unknown logging subsection, ignored")
    if "to_file" in items:
        _warn(warnings, items["to_file"], "deprecated name of to_logfile")
    if "syslog_level" in items:
        _warn(warnings, items["syslog_level"], "deprecated name of syslog_priority")
    to_logfile_item = items.get("to_logfile", items.get("to_file"))
    to_logfile = opt.on_off(to_logfile_item) if to_logfile_item else False
    logfile = items["logfile"].value if "logfile" in items else None
    if to_logfile and logfile is None:
        assert to_logfile_item is not None
        raise to_logfile_item.error("logging to a file needs logging.logfile (its path)")
    return LoggingConfig(
        to_stderr=opt.on_off(items["to_stderr"]) if "to_stderr" in items else True,
        to_logfile=to_logfile,
        logfile=logfile,
        to_syslog=opt.on_off(items["to_syslog"]) if "to_syslog" in items else True,
        timestamp=items["timestamp"].value != "off" if "timestamp" in items else True,
        debug=items["debug"].value in ("on", "trace") if "debug" in items else False,
    )


def _logger_subsys(section: Section, warnings: list[str]) -> None:
    """Per-subsystem logging: validated like Corosync, then not used by hastack."""
    items, inner = merge([section], warnings)
    for sub in inner:
        _warn(warnings, sub, "unknown subsection, ignored")
    if "subsys" not in items:
        raise section.error("logger_subsys needs a subsys: option naming the subsystem")
    for key, item in items.items():
        if key in opt.LOG_TOP_OPTIONS:
            _warn(warnings, item, "only valid at the top of logging { }; ignored")
        elif key not in opt.LOG_SUBSYS_OPTIONS:
            _warn(warnings, item, "unknown logging option, ignored")
        elif allowed := opt.LOG_SUBSYS_OPTIONS[key]:
            opt.choice(item, allowed)
        else:
            opt.text(item)
