"""The options of corosync.conf(5) that hastack knows, and how their values are read.

Value syntax follows Corosync 3 (coroparse, totemconfig, logconfig, votequorum):

- integers are decimal, optionally signed, nothing else on the line; Corosync reads
  totem timings and counts as u32, ``mcastport`` as u16, ``linknumber`` as u8;
- the votequorum switches (``two_node``, ``wait_for_all``, ...) are u8 numbers, 0 off
  and anything else on — ``yes`` is refused there, as Corosync refuses it;
- totem switches (``block_unlisted_ips``, ...) are ``yes``/``no``;
- logging switches are ``yes``/``no``/``on``/``off``; ``timestamp`` is on/off/hires and
  ``debug`` on/off/trace.

Options Corosync knows but hastack does not use are listed here with the warning a
user gets when one is set, so a Corosync file loads with every difference spelled
out rather than silently dropped (DESIGN.md rule 5).
"""

from __future__ import annotations

import re

from ha.runtime.corosync_syntax import Item

U8, U16, U32, U64 = 2**8 - 1, 2**16 - 1, 2**32 - 1, 2**64 - 1
_INTEGER = re.compile(r"[+-]?[0-9]+")

KNET_ONLY = "knet-only option, ignored"
NOT_IMPLEMENTED = "not implemented by hastack, ignored"

# The Totem options hastack maps onto ha.totem.config.TotemConfig: name -> (min, unit).
TOTEM_TIMINGS: dict[str, tuple[int, str]] = {
    # Corosync refuses timeouts under 30 ms (3 ticks of HZ=100) and a hold under 14 ms.
    "token": (30, "ms"),
    "token_coefficient": (0, "ms"),
    "consensus": (30, "ms"),
    "join": (30, "ms"),
    "merge": (30, "ms"),
    "token_retransmit": (30, "ms"),
    "hold": (14, "ms"),
    "fail_recv_const": (1, ""),
    "seqno_unchanged_const": (1, ""),
    "window_size": (1, ""),
    "max_messages": (1, ""),
    "miss_count_const": (1, ""),
    "token_retransmits_before_loss_const": (1, ""),
}

# Other totem options: name -> warning when set (None: accepted silently).
# The mapping in corosync_conf handles the ones whose warning depends on the value.
TOTEM_OTHER: dict[str, str | None] = {
    "version": None, "cluster_name": None, "transport": None, "ip_version": None,
    "netmtu": None, "crypto_cipher": None, "crypto_hash": None, "secauth": None,
    "keyfile": None, "key": None, "config_version": None, "block_unlisted_ips": None,
    "cancel_token_hold_on_retransmit": None, "clear_node_high_bit": None,
    "send_join": None, "heartbeat_failures_allowed": None, "max_network_delay": None,
    "cluster_uuid": None,  # written by pcs (0.10.17+/0.11.6+) to tell clusters apart
    "nodeid": "deprecated in Corosync 3 and ignored; the nodelist nodeid is used",
    "token_warning": NOT_IMPLEMENTED,
    "downcheck": NOT_IMPLEMENTED,
    "threads": NOT_IMPLEMENTED,
    "ip_dscp": NOT_IMPLEMENTED,
    "crypto_model": KNET_ONLY,
    "link_mode": KNET_ONLY,
    "knet_pmtud_interval": KNET_ONLY,
    "knet_mtu": KNET_ONLY,
    "knet_compression_model": KNET_ONLY,
    "knet_compression_threshold": KNET_ONLY,
    "knet_compression_level": KNET_ONLY,
    "rrp_mode": "Corosync 2 redundant-ring option, ignored",
    "vsftype": "Corosync 2 option, ignored",
}

INTERFACE_OPTIONS: dict[str, str | None] = {
    "linknumber": None, "mcastport": None,
    "bindnetaddr": "hastack binds to the node's own nodelist ring0_addr; ignored",
    "mcastaddr": "hastack sends unicast to every nodelist address; multicast settings ignored",
    "broadcast": "hastack sends unicast to every nodelist address; broadcast ignored",
    "ttl": "multicast-only option, ignored",
    "knet_link_priority": KNET_ONLY,
    "knet_ping_interval": KNET_ONLY,
    "knet_ping_timeout": KNET_ONLY,
    "knet_ping_precision": KNET_ONLY,
    "knet_pong_count": KNET_ONLY,
    "knet_transport": KNET_ONLY,
}

NODE_OPTIONS = {"nodeid", "name", "quorum_votes"} | {f"ring{i}_addr" for i in range(8)}

QUORUM_SWITCHES = ("two_node", "wait_for_all", "last_man_standing", "auto_tie_breaker")
QUORUM_OTHER: dict[str, str | None] = {
    "provider": None, "expected_votes": None, "last_man_standing_window": None,
    "auto_tie_breaker_node": None,
    "votes": "only used by votequorum without a nodelist; nodelist quorum_votes apply",
    "allow_downscale": NOT_IMPLEMENTED,
    "expected_votes_tracking": NOT_IMPLEMENTED,
    "leaving_timeout": NOT_IMPLEMENTED,
    "cancel_wait_for_all": NOT_IMPLEMENTED,
}

LOG_SWITCHES = ("to_stderr", "to_logfile", "to_syslog", "to_file")
SYSLOG_FACILITIES = ("daemon", "local0", "local1", "local2", "local3", "local4", "local5",
                     "local6", "local7")
PRIORITIES = ("alert", "crit", "debug", "emerg", "err", "info", "notice", "warning")
# Options valid in logging { } and in each logger_subsys { }: name -> accepted values.
LOG_SUBSYS_OPTIONS: dict[str, tuple[str, ...] | None] = {
    "to_stderr": ("yes", "no", "on", "off"), "to_logfile": ("yes", "no", "on", "off"),
    "to_syslog": ("yes", "no", "on", "off"), "to_file": ("yes", "no", "on", "off"),
    "logfile": None, "logfile_priority": PRIORITIES, "syslog_facility": SYSLOG_FACILITIES,
    "syslog_priority": PRIORITIES, "syslog_level": PRIORITIES,
    "debug": ("on", "off", "trace"), "subsys": None,
}
# Only at the top of logging { }.
LOG_TOP_OPTIONS: dict[str, tuple[str, ...] | None] = {
    "timestamp": ("on", "off", "hires"), "fileline": ("on", "off"),
    "function_name": ("on", "off"), "blackbox": ("on", "off"),
}

# Top-level sections Corosync knows that carry nothing for hastack: accepted silently.
IGNORED_SECTIONS = ("system", "resources", "nozzle", "uidgid", "qb", "pload", "amf", "aisexec",
                    "service")


def got(value: str) -> str:
    """``got 'value'``, with a hint when the value looks like it carries a comment."""
    hint = " ('#' starts a comment only at the beginning of a line)" if "#" in value else ""
    return f"got {value!r}{hint}"


def integer(item: Item, lo: int, hi: int, what: str | None = None) -> int:
    """A decimal integer in lo..hi, or a ConfigError naming the option and line."""
    text = item.value
    expected = what or ("a positive integer" if lo == 1 and hi == U32 else
                        f"an integer in {lo}..{hi}")
    # The length bound keeps int() clear of Python's digit limit on absurd input.
    if not _INTEGER.fullmatch(text) or len(text) > 40 or not lo <= int(text) <= hi:
        raise item.error(f"expected {expected}, {got(text)}")
    return int(text)


def timing(item: Item) -> int:
    """A totem timing (ms) or count from TOTEM_TIMINGS, with Corosync's lower bounds."""
    lo, unit = TOTEM_TIMINGS[item.key]
    if unit == "ms":
        what = "a positive integer (milliseconds)" if lo else "an integer >= 0 (milliseconds)"
    else:
        what = "a positive integer"
    value = integer(item, min(lo, 1), U32, what)
    if value < lo:
        raise item.error(f"{value} ms is below Corosync's minimum of {lo} ms")
    return value


def switch01(item: Item) -> bool:
    """A votequorum switch: a u8, 0 is off and anything else on (as votequorum reads it)."""
    if not _INTEGER.fullmatch(item.value) or len(item.value) > 40 or not 0 <= int(item.value) <= U8:
        raise item.error(f"expected 0 or 1, {got(item.value)}")
    return int(item.value) != 0


def choice(item: Item, allowed: tuple[str, ...]) -> str:
    if item.value not in allowed:
        raise item.error(f"expected one of {', '.join(allowed)}, {got(item.value)}")
    return item.value


def yes_no(item: Item) -> bool:
    return choice(item, ("yes", "no")) == "yes"


def on_off(item: Item) -> bool:
    """A logging switch: yes/on are true, no/off false."""
    return choice(item, ("yes", "no", "on", "off")) in ("yes", "on")


def text(item: Item) -> str:
    if not item.value:
        raise item.error("expected a value, got nothing")
    return item.value
