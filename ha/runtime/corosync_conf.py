"""Read a Corosync 3 corosync.conf(5) into the configuration of one hastack cluster.

A file written for Corosync (by hand, by Debian's package, by ``pcs cluster setup``)
loads as it is. What hastack uses is mapped onto its own types — ``totem { }`` onto
:class:`ha.totem.config.TotemConfig`, ``quorum { }`` onto
:class:`ha.totem.quorum.QuorumConfig` — and whatever Corosync knows but hastack does not
use (knet link tuning, multicast, qdevice, ...) becomes a warning that names the file,
the line and the option. A file Corosync would refuse, or one hastack cannot run, is
refused with a :class:`ConfigError` naming the same. The syntax is read by
:mod:`ha.runtime.corosync_syntax`; option names and value rules are in
:mod:`ha.runtime.corosync_options`; nodelist, quorum and logging in
:mod:`ha.runtime.corosync_sections`.

Where hastack differs from Corosync, on purpose:

- every node needs an explicit ``nodeid`` (Corosync derives one from an IPv4
  ``ring0_addr`` for udpu/udp) and a nodelist is required (no multicast discovery);
  only link 0 (``ring0_addr``, interface ``linknumber: 0``) is used;
- every packet is authenticated with HMAC-SHA-256 keyed from the authkey, whatever
  ``crypto_hash`` says (so the authkey file is always needed); ``crypto_hash`` is
  therefore always reported as ``sha256``; other hashes and ``none`` warn;
- encryption is AES-256-GCM: ``crypto_cipher: aes128``/``aes192`` load as ``aes256``
  with a warning (every node reads the same file, so the cluster stays consistent),
  and crypto is honoured with every transport (Corosync allows it with knet only);
- defaults are Corosync 3.1's (Debian bookworm ships 3.1.7): ``crypto_cipher`` and
  ``crypto_hash`` default to none; ``netmtu`` is 1500 with every transport (hastack
  always sends plain UDP datagrams; Corosync's knet default would be 65536).
"""

from __future__ import annotations

import re
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from ha.runtime import corosync_options as opt
from ha.runtime.corosync_sections import (
    LoggingConfig,
    NodeEntry,
    addr_key,
    read_logging,
    read_nodelist,
    read_quorum,
)
from ha.runtime.corosync_syntax import ConfigError, Item, Section, merge, parse_sections
from ha.totem.config import TotemConfig, TotemConfigError
from ha.totem.quorum import QuorumConfig

__all__ = ["DEFAULT_KEYFILE", "DEFAULT_NETMTU", "DEFAULT_PORT", "ClusterConfig", "ConfigError",
           "LoggingConfig", "NodeEntry", "addr_key", "load", "parse", "resolve"]

DEFAULT_PORT = 5405
DEFAULT_NETMTU = 1500
DEFAULT_KEYFILE = "/etc/corosync/authkey"
TRANSPORTS = ("knet", "udpu", "udp")
IP_VERSIONS = ("ipv6-4", "ipv4-6", "ipv4", "ipv6")
CIPHERS = ("none", "aes256", "aes192", "aes128")
HASHES = ("none", "md5", "sha1", "sha256", "sha384", "sha512")


@dataclass(frozen=True)
class ClusterConfig:
    """One cluster's configuration, as read from corosync.conf.

    ``port`` is UDP port of link 0 (``totem.interface.mcastport``, default 5405);
    ``netmtu`` the largest datagram hastack sends, IP and UDP headers included;
    ``keyfile`` the authkey (needed always: see the module docstring). ``totem.nodes``
    and ``quorum.votes`` list the nodelist's ids in nodelist order. ``quorum`` is None
    without ``quorum { provider: corosync_votequorum }`` (no quorum: always quorate).
    ``warnings`` are complete lines, ``file:line: option: what``, for the caller to log.
    """

    cluster_name: str
    transport: str
    ip_version: str
    port: int
    netmtu: int
    crypto_cipher: str
    crypto_hash: str
    keyfile: str
    totem: TotemConfig
    quorum: QuorumConfig | None
    nodes: tuple[NodeEntry, ...]
    logging: LoggingConfig = field(default_factory=LoggingConfig)
    warnings: tuple[str, ...] = ()
    _by_id: Mapping[int, NodeEntry] = field(init=False, repr=False, compare=False)
    _by_addr: Mapping[str, NodeEntry] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        by_id = {n.nodeid: n for n in self.nodes}
        by_addr = {addr_key(n.ring0_addr): n for n in self.nodes}
        if len(by_id) != len(self.nodes) or len(by_addr) != len(self.nodes):
            raise ValueError("nodes: node ids and ring0 addresses must be unique")
        object.__setattr__(self, "_by_id", MappingProxyType(by_id))
        object.__setattr__(self, "_by_addr", MappingProxyType(by_addr))

    def node_by_id(self, nodeid: int) -> NodeEntry:
        """The nodelist entry of ``nodeid``; KeyError if it is not in the nodelist."""
        try:
            return self._by_id[nodeid]
        except KeyError:
            raise KeyError(f"node {nodeid} is not in the nodelist") from None

    def node_by_addr(self, addr: str) -> NodeEntry | None:
        """The node whose ``ring0_addr`` is ``addr`` (as spelled, or the same IP in any
        notation — see :func:`addr_key`); None if none is. Host names are not resolved:
        map resolved addresses with :func:`resolve` first."""
        return self._by_addr.get(addr_key(addr))


def resolve(addr: str, *, ip_version: str = "ipv6-4") -> str:
    """The IP address ``addr`` (a literal or a host name) stands for, as a string.

    ``ip_version`` picks the family as Corosync's ``totem.ip_version`` does: ``ipv4`` or
    ``ipv6`` only that family; ``ipv4-6`` the first IPv4 address, else the first IPv6;
    ``ipv6-4`` (Corosync's default for knet and udpu) the other way round. Pass
    ``ClusterConfig.ip_version``. A lookup that fails, or finds no address of a family
    asked for, raises OSError (socket.gaierror from the resolver); an unknown
    ``ip_version`` raises ValueError.
    """
    families = {"ipv4": (socket.AF_INET,), "ipv6": (socket.AF_INET6,),
                "ipv4-6": (socket.AF_INET, socket.AF_INET6),
                "ipv6-4": (socket.AF_INET6, socket.AF_INET)}.get(ip_version)
    if families is None:
        raise ValueError(f"ip_version: expected one of {', '.join(IP_VERSIONS)}, got {ip_version!r}")
    try:
        infos = socket.getaddrinfo(addr, None, socket.AF_UNSPEC, socket.SOCK_DGRAM,
                                   socket.IPPROTO_UDP)
    except UnicodeError as exc:  # the IDNA codec refuses e.g. a label over 63 characters
        raise OSError(f"cannot resolve {addr!r}: {exc}") from None
    except OSError as exc:
        raise type(exc)(exc.errno, f"cannot resolve {addr!r}: {exc.strerror}") from None
    for family in families:
        for info in infos:
            if info[0] == family:
                return str(info[4][0])
    raise OSError(f"{addr!r} has no address of the family ip_version {ip_version} asks for")


def parse(text: str, filename: str = "corosync.conf") -> ClusterConfig:
    """Read corosync.conf text; ConfigError (a ValueError) is the only exception raised."""
    return _Reader(filename).read(text)


def load(path: str) -> ClusterConfig:
    """Read the corosync.conf at ``path``; errors and warnings name ``path``."""
    try:
        with open(path, "rb") as fh:
            data = fh.read()
    except OSError as exc:
        raise ConfigError(f"cannot read the file: {exc.strerror or exc}", filename=path) from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise ConfigError(f"not UTF-8 text (byte {data[exc.start]:#04x})", filename=path,
                          line=line) from None
    return parse(text, path)


class _Reader:
    """One reading of one file: collects warnings, raises the first error."""

    def __init__(self, filename: str) -> None:
        self.filename = filename
        self.warnings: list[str] = []

    def warn(self, where: Item | Section | str, message: str) -> None:
        prefix = where if isinstance(where, str) else where.where()
        self.warnings.append(f"{prefix}: {message}")

    def read(self, text: str) -> ClusterConfig:
        root = parse_sections(text, self.filename)
        for item in root.items:
            self.warn(item, "unknown top-level option, ignored")
        top: dict[str, list[Section]] = {}
        for section in root.sections:
            top.setdefault(section.name, []).append(section)
        for name, sections in top.items():
            if name not in ("totem", "nodelist", "quorum", "logging", *opt.IGNORED_SECTIONS):
                for section in sections:
                    self.warn(section, "unknown section, ignored")
        totem_items, totem_subs = merge(top.get("totem", []), self.warnings)
        transport = self._choice(totem_items.get("transport"), TRANSPORTS, "knet")
        nodes = read_nodelist(top.get("nodelist", []), self.filename, self.warnings)
        totem = self._totem(totem_items, [n.nodeid for n in nodes])
        cipher = self._crypto(totem_items, transport)
        quorum = read_quorum(top.get("quorum", []), nodes, self.filename, self.warnings)
        logging = read_logging(top.get("logging", []), self.warnings)
        return ClusterConfig(
            cluster_name=self._cluster_name(totem_items.get("cluster_name")),
            transport=transport,
            ip_version=self._choice(totem_items.get("ip_version"), IP_VERSIONS,
                                    "ipv4" if transport == "udp" else "ipv6-4"),
            port=self._interfaces(totem_subs),
            netmtu=self._netmtu(totem_items.get("netmtu")),
            crypto_cipher=cipher,
            crypto_hash="sha256",
            keyfile=self._keyfile(totem_items),
            totem=totem,
            quorum=quorum,
            nodes=tuple(nodes),
            logging=logging,
            warnings=tuple(sorted(self.warnings, key=self._line_of)),
        )

    def _line_of(self, warning: str) -> int:
        """Sort key: warnings in file order, those about the whole file first."""
        m = re.match(r":(\d+): ", warning[len(self.filename):])
        return int(m.group(1)) if m else 0

    @staticmethod
    def _choice(item: Item | None, allowed: tuple[str, ...], default: str) -> str:
        return default if item is None else opt.choice(item, allowed)

    # ---- totem { } --------------------------------------------------------------------
    def _totem(self, items: dict[str, Item], nodeids: list[int]) -> TotemConfig:
        timings: dict[str, int] = {}
        for key, item in items.items():
            if key in opt.TOTEM_TIMINGS:
                timings[key] = opt.timing(item)
            elif key in opt.TOTEM_OTHER:
                note = opt.TOTEM_OTHER[key]
                if note:
                    self.warn(item, note)
            else:
                self.warn(item, "unknown totem option, ignored")
        self._totem_switches(items)
        version = items.get("version")
        if version is None:
            self.warn(f"{self.filename}: totem.version", "not set; Corosync requires 'version: 2'")
        elif opt.integer(version, 0, opt.U32, "2") != 2:
            raise version.error(f"expected 2 (the only totem configuration version), "
                                f"got {version.value!r}")
        try:
            totem = TotemConfig(**timings, nodes=tuple(nodeids))
        except TotemConfigError as exc:
            raise self._totem_error(str(exc), items) from None
        if totem.token_retransmit_timeout_ms < 30:
            raise self._totem_error(
                f"totem.token: token_retransmit, derived as token / (token_retransmits_"
                f"before_loss_const + 0.2), is {totem.token_retransmit_timeout_ms} ms, below "
                f"Corosync's minimum of 30 ms: raise token or lower the retransmit count", items)
        return totem

    def _totem_error(self, message: str, items: dict[str, Item]) -> ConfigError:
        m = re.match(r"(totem\.(\w+)|nodelist)(: )?", message)
        option = m.group(1) if m else None
        if m and m.group(3):
            message = message[m.end():]
        item = items.get(m.group(2)) if m and m.group(2) else None
        return ConfigError(message, filename=self.filename, line=item.line if item else None,
                           option=option)

    def _totem_switches(self, items: dict[str, Item]) -> None:
        """Totem options read for their value only, to warn where hastack behaves otherwise."""
        if (item := items.get("block_unlisted_ips")) and not opt.yes_no(item):
            self.warn(item, "hastack always drops datagrams from addresses outside the "
                            "nodelist; 'no' ignored")
        for key in ("cancel_token_hold_on_retransmit", "clear_node_high_bit"):
            if (item := items.get(key)) and opt.yes_no(item):
                self.warn(item, opt.NOT_IMPLEMENTED)
        for key in ("send_join", "heartbeat_failures_allowed"):
            if (item := items.get(key)) and opt.integer(item, 0, opt.U32):
                self.warn(item, opt.NOT_IMPLEMENTED)
        if item := items.get("max_network_delay"):
            opt.integer(item, 1, opt.U32, "a positive integer (milliseconds)")
        if (item := items.get("config_version")) and opt.integer(item, 0, opt.U64):
            self.warn(item, "hastack does not compare config versions between nodes; ignored")

    def _cluster_name(self, item: Item | None) -> str:
        if item is None:
            self.warn(f"{self.filename}: totem.cluster_name",
                      "not set; hastack mixes the cluster name into its packet keys, "
                      "set one per cluster")
            return ""
        return opt.text(item)

    def _netmtu(self, item: Item | None) -> int:
        if item is None:
            return DEFAULT_NETMTU
        return opt.integer(item, 576, 65535, "an integer in 576..65535 (bytes)")

    def _interfaces(self, subsections: list[Section]) -> int:
        """UDP port of link 0; interface sections for other links warn and are dropped."""
        links: dict[int, dict[str, Item]] = {}
        for sub in subsections:
            if sub.name != "interface":
                self.warn(sub, "unknown totem subsection, ignored")
                continue
            items, inner = merge([sub], self.warnings)
            for section in inner:
                self.warn(section, "member sections are deprecated (Corosync 2); ignored"
                          if section.name == "member" else "unknown subsection, ignored")
            number = items.get("linknumber")
            link = 0 if number is None else opt.integer(number, 0, 7, "a link number in 0..7")
            if link != 0:
                self.warn(sub, f"link {link}: hastack uses one link (link 0); ignored")
                continue
            links.setdefault(link, {}).update(items)
        port = DEFAULT_PORT
        for key, item in links.get(0, {}).items():
            if key == "mcastport":
                port = opt.integer(item, 1, opt.U16, "a UDP port in 1..65535")
            elif key in opt.INTERFACE_OPTIONS:
                if note := opt.INTERFACE_OPTIONS[key]:
                    self.warn(item, note)
            else:
                self.warn(item, "unknown interface option, ignored")
        return port

    # ---- crypto -----------------------------------------------------------------------
    def _crypto(self, items: dict[str, Item], transport: str) -> str:
        """The cipher hastack uses ("none" or "aes256"); warns where Corosync differs."""
        cipher, digest = "none", "none"
        if secauth := items.get("secauth"):
            cipher, digest = (("aes256", "sha256") if opt.choice(secauth, ("on", "off")) == "on"
                              else ("none", "none"))
        cipher_item, hash_item = items.get("crypto_cipher"), items.get("crypto_hash")
        if cipher_item:
            cipher = opt.choice(cipher_item, CIPHERS)
        if hash_item:
            digest = opt.choice(hash_item, HASHES)
        source = cipher_item or secauth
        if cipher != "none" and digest == "none":
            assert source is not None
            raise source.error(f"{cipher} needs crypto_hash set as well (e.g. sha256), "
                               f"as Corosync requires")
        if cipher in ("aes128", "aes192"):
            assert cipher_item is not None
            self.warn(cipher_item, f"hastack encrypts with AES-256-GCM only; {cipher} taken "
                                   f"as aes256")
            cipher = "aes256"
        if hash_item and digest == "none":
            self.warn(hash_item, "hastack always authenticates every packet with HMAC-SHA-256 "
                                 "(keyed from the authkey); 'none' has no effect")
        elif hash_item and digest != "sha256":
            self.warn(hash_item, f"hastack authenticates with HMAC-SHA-256 only; {digest} "
                                 f"taken as sha256")
        if cipher != "none" and transport != "knet":
            assert source is not None
            self.warn(source, f"Corosync allows crypto only with knet; hastack encrypts with "
                              f"{transport} too")
        return cipher

    def _keyfile(self, items: dict[str, Item]) -> str:
        keyfile, key = items.get("keyfile"), items.get("key")
        if key is not None and keyfile is None:
            raise key.error("an inline key is not supported; write it to a file "
                            "(ha keygen -k FILE) and set totem.keyfile")
        if key is not None:
            self.warn(key, "totem.keyfile takes precedence; ignored")
        return opt.text(keyfile) if keyfile else DEFAULT_KEYFILE
