"""Unit tests of ha.runtime.corosync_conf: corosync.conf(5) into a ClusterConfig.

The fixtures under tests/data/corosync/ are Debian's example file (corosync 3.1.7) and
three written for these tests; each was checked with ``corosync -t`` (see
test_fixtures_are_accepted_by_corosync, which reruns that check where corosync is
installed).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ha.runtime.corosync_conf import (
    ClusterConfig,
    ConfigError,
    LoggingConfig,
    NodeEntry,
    load,
    parse,
    resolve,
)

DATA = Path(__file__).resolve().parents[1] / "data" / "corosync"

NODES = """\
nodelist {
    node {
        ring0_addr: 10.0.0.1
        nodeid: 1
    }
    node {
        ring0_addr: 10.0.0.2
        nodeid: 2
    }
}
"""
NODES_LINES = NODES.count("\n")
THREE_NODES = NODES.replace("    }\n}\n", "    }\n    node {\n        ring0_addr: 10.0.0.3\n"
                                          "        nodeid: 3\n    }\n}\n")


def conf(totem: str = "", *, nodes: str = NODES, tail: str = "") -> str:
    """A valid file: nodelist first (so its line numbers are fixed), then totem { } holding
    ``totem`` on the line NODES_LINES + 3 onwards, then ``tail``."""
    return f"{nodes}totem {{\n    version: 2\n    cluster_name: t\n{totem}}}\n{tail}"


TOTEM_LINE = NODES_LINES + 4  # the first line of the ``totem`` argument


def error_of(text: str) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        parse(text)
    return info.value


def quorum(body: str, nodes: str = NODES) -> str:
    return conf(nodes=nodes, tail=f"quorum {{\n    provider: corosync_votequorum\n{body}}}\n")


# ---- the fixtures ---------------------------------------------------------------------
def test_debian_example_loads() -> None:
    cfg = load(str(DATA / "debian-example.conf"))
    assert (cfg.cluster_name, cfg.transport, cfg.crypto_cipher) == ("debian", "knet", "none")
    assert cfg.nodes == (NodeEntry(1, "127.0.0.1", "node1", 1),)
    assert cfg.quorum is not None and dict(cfg.quorum.votes) == {1: 1}
    assert cfg.logging == LoggingConfig(to_stderr=True, to_logfile=True,
                                        logfile="/var/log/corosync/corosync.log",
                                        to_syslog=True, timestamp=True, debug=False)
    assert [w.split(": ")[1] for w in cfg.warnings] == ["totem.crypto_hash"]


def test_udpu_fixture_maps_totem_timings() -> None:
    cfg = load(str(DATA / "udpu.conf"))
    assert (cfg.transport, cfg.port, cfg.netmtu) == ("udpu", 5500, 1500)
    assert cfg.totem.token_timeout_ms == 5000 + 650  # one node beyond two: one coefficient
    assert (cfg.totem.join, cfg.totem.max_messages, cfg.totem.window_size) == (60, 20, 100)
    assert cfg.totem.nodes == (1, 2, 3)
    assert [n.name for n in cfg.nodes] == ["alpha", "beta", "gamma"]
    assert cfg.warnings == ()


def test_pcs_knet_fixture_loads_with_crypto() -> None:
    cfg = load(str(DATA / "knet-pcs.conf"))
    assert (cfg.crypto_cipher, cfg.crypto_hash, cfg.ip_version, cfg.port) == (
        "aes256", "sha256", "ipv4", 5420)
    assert cfg.quorum is not None and cfg.quorum.two_node and cfg.quorum.effective_wait_for_all
    assert cfg.totem.token_timeout_ms == 10000


def test_pcs_knet_fixture_warns_about_every_knet_option() -> None:
    path = str(DATA / "knet-pcs.conf")
    warnings = load(path).warnings
    assert f"{path}:10: totem.knet_pmtud_interval: knet-only option, ignored" in warnings
    assert f"{path}:28: totem.interface: link 1: hastack uses one link (link 0); ignored" in warnings
    assert sum("ring1_addr" in w for w in warnings) == 2
    assert all(w.startswith(f"{path}:") for w in warnings)


def test_quorum_fixture_maps_votequorum_options() -> None:
    cfg = load(str(DATA / "quorum-options.conf"))
    q = cfg.quorum
    assert q is not None
    assert (q.expected_votes, q.wait_for_all, q.last_man_standing, q.auto_tie_breaker) == (
        4, True, True, True)
    assert (q.last_man_standing_window_ms, q.auto_tie_breaker_node) == (20000, (30, 10))
    assert cfg.node_by_id(30).ring0_addr == "node-c.example.net"  # kept as written


@pytest.mark.skipif(shutil.which("corosync") is None, reason="corosync is not installed")
@pytest.mark.parametrize("name", ["udpu", "knet-pcs", "quorum-options"])
def test_fixtures_are_accepted_by_corosync(name: str, tmp_path: Path) -> None:
    # corosync -t needs the local node in the nodelist and a key: make node 1 local.
    key = tmp_path / "authkey"
    key.write_bytes(os.urandom(256))
    text = (DATA / f"{name}.conf").read_text()
    for remote, local in (("10.10.0.1\n", "127.0.0.1\n"), ("192.168.122.11\n", "127.0.0.1\n"),
                          ("2001:db8::10\n", "::1\n"), ("node-c.example.net", "2001:db8::30"),
                          ("/var/log/cluster/", f"{tmp_path}/")):
        text = text.replace(remote, local)
    text = text.replace("version: 2\n", f"version: 2\n    keyfile: {key}\n", 1)
    (tmp_path / "corosync.conf").write_text(text)
    run = subprocess.run(["corosync", "-t", "-c", str(tmp_path / "corosync.conf")],
                         capture_output=True, text=True, timeout=30, cwd=tmp_path)
    assert run.returncode == 0, run.stdout + run.stderr


# ---- syntax ---------------------------------------------------------------------------
def test_comments_blank_lines_crlf_and_blanks_are_accepted() -> None:
    text = conf("\t# a comment\r\n\r\n  token:\u00a0 4000 \t\r\n")
    assert parse(text).totem.token == 4000


def test_hash_after_a_value_is_not_a_comment() -> None:
    err = error_of(conf("    token: 3000 # ms\n"))
    assert err.line == TOTEM_LINE and "'#' starts a comment only" in str(err)


def test_colon_before_brace_is_tolerated() -> None:
    assert parse(conf().replace("totem {", "totem: {")).cluster_name == "t"


def test_values_may_contain_colons() -> None:
    cfg = parse(conf(nodes=NODES.replace("10.0.0.1", "fe80::1").replace("10.0.0.2", "fe80::2")))
    assert cfg.node_by_id(1).ring0_addr == "fe80::1"


def test_missing_colon_names_line_and_option() -> None:
    err = error_of(conf("    token 3000\n"))
    assert (err.line, err.option) == (TOTEM_LINE, "totem.token")
    assert "missing ':'" in err.message


def test_unclosed_section_names_its_opening_line() -> None:
    err = error_of(NODES + "totem {\n    token: 3000\n")
    assert (err.line, err.option) == (NODES_LINES + 1, "totem")
    assert "missing '}'" in err.message


def test_extra_closing_brace_is_refused() -> None:
    err = error_of(conf() + "}\n")
    assert err.line == conf().count("\n") + 1 and "unbalanced" in err.message


def test_text_after_opening_brace_is_refused() -> None:
    err = error_of("nodelist {\n    node { ring0_addr: 10.0.0.1 }\n}\n")
    assert (err.line, err.option) == (2, "nodelist.node")


def test_closing_brace_must_stand_alone() -> None:
    err = error_of(conf().replace("    cluster_name: t\n}", "    cluster_name: t\n} # end"))
    assert err.line == NODES_LINES + 4 and "stand alone" in err.message


def test_empty_option_name_is_refused() -> None:
    assert "missing option name" in error_of(conf("    : 5\n")).message


def test_repeated_option_uses_the_last_value_and_warns() -> None:
    cfg = parse(conf("    token: 4000\n    token: 5000\n"))
    assert cfg.totem.token == 5000
    assert cfg.warnings == (f"corosync.conf:{TOTEM_LINE + 1}: totem.token: given again "
                            f"(first at line {TOTEM_LINE}); this later value is used",)


def test_repeated_sections_merge() -> None:
    assert parse(conf() + "totem {\n    join: 70\n}\n").totem.join == 70


def test_error_str_names_file_line_and_option() -> None:
    err = error_of(conf("    token: abc\n"))
    assert str(err) == (f"corosync.conf:{TOTEM_LINE}: totem.token: expected a positive integer "
                        f"(milliseconds), got 'abc'")
    assert isinstance(err, ValueError)


# ---- totem { } ------------------------------------------------------------------------
@pytest.mark.parametrize("value", ["-5", "0", "1.5", "", "4294967296", "3000ms"])
def test_bad_token_values_are_refused(value: str) -> None:
    assert error_of(conf(f"    token: {value}\n")).option == "totem.token"


def test_token_below_corosyncs_minimum_is_refused() -> None:
    assert "minimum of 30 ms" in error_of(conf("    token: 20\n")).message


def test_totem_config_errors_name_the_option_and_line() -> None:
    err = error_of(conf("    window_size: 10\n    max_messages: 11\n"))
    assert (err.option, err.line) == ("totem.max_messages", TOTEM_LINE + 1)


def test_short_consensus_is_refused() -> None:
    err = error_of(conf("    token: 3000\n    consensus: 1000\n"))
    assert (err.option, err.line) == ("totem.consensus", TOTEM_LINE + 1)


def test_derived_token_retransmit_below_minimum_is_refused() -> None:
    err = error_of(conf("    token: 100\n    token_retransmits_before_loss_const: 10\n"))
    assert err.option == "totem.token" and "token_retransmit" in err.message


def test_token_coefficient_is_added_per_node_beyond_two() -> None:
    cfg = parse(conf("    token: 1000\n    token_coefficient: 100\n", nodes=THREE_NODES))
    assert cfg.totem.token_timeout_ms == 1100


def test_totem_nodes_follow_nodelist_order() -> None:
    nodes = NODES.replace("nodeid: 1", "nodeid: 7")
    assert parse(conf(nodes=nodes)).totem.nodes == (7, 2)


def test_missing_version_warns() -> None:
    text = conf().replace("    version: 2\n", "")
    assert any("totem.version: not set" in w for w in parse(text).warnings)


def test_version_other_than_2_is_refused() -> None:
    assert error_of(conf().replace("version: 2", "version: 1")).option == "totem.version"


def test_knet_only_option_warns_in_the_documented_form() -> None:
    cfg = parse(conf("    knet_pmtud_interval: 30\n"))
    assert cfg.warnings == (
        f"corosync.conf:{TOTEM_LINE}: totem.knet_pmtud_interval: knet-only option, ignored",)


def test_unknown_totem_option_warns() -> None:
    assert "unknown totem option" in parse(conf("    tokn: 5000\n")).warnings[0]


def test_totem_nodeid_is_ignored_with_a_warning() -> None:
    cfg = parse(conf("    nodeid: 9\n"))
    assert "deprecated" in cfg.warnings[0] and cfg.totem.nodes == (1, 2)


@pytest.mark.parametrize(("transport", "ip_version"), [("knet", "ipv6-4"), ("udpu", "ipv6-4"),
                                                       ("udp", "ipv4")])
def test_ip_version_defaults_per_transport(transport: str, ip_version: str) -> None:
    cfg = parse(conf(f"    transport: {transport}\n"))
    assert (cfg.transport, cfg.ip_version) == (transport, ip_version)


def test_unknown_transport_is_refused() -> None:
    assert "knet, udpu, udp" in error_of(conf("    transport: sctp\n")).message


def test_defaults_without_options() -> None:
    cfg = parse(conf())
    assert (cfg.transport, cfg.port, cfg.netmtu, cfg.keyfile, cfg.crypto_cipher) == (
        "knet", 5405, 1500, "/etc/corosync/authkey", "none")
    assert cfg.totem.token == 3000 and cfg.logging == LoggingConfig()


@pytest.mark.parametrize("value", ["575", "65536", "x"])
def test_netmtu_out_of_range_is_refused(value: str) -> None:
    assert error_of(conf(f"    netmtu: {value}\n")).option == "totem.netmtu"


def test_port_comes_from_link_0_interface() -> None:
    body = ("    interface {\n        linknumber: 1\n        mcastport: 6000\n    }\n"
            "    interface {\n        mcastport: 5999\n    }\n")
    cfg = parse(conf(body))
    assert cfg.port == 5999 and any("link 1" in w for w in cfg.warnings)


def test_port_zero_is_refused() -> None:
    err = error_of(conf("    interface {\n        mcastport: 0\n    }\n"))
    assert err.option == "totem.interface.mcastport"


def test_missing_cluster_name_warns_and_is_empty() -> None:
    cfg = parse(conf().replace("    cluster_name: t\n", ""))
    assert cfg.cluster_name == "" and "cluster_name: not set" in cfg.warnings[0]


def test_keyfile_is_read() -> None:
    assert parse(conf("    keyfile: /etc/hastack/key\n")).keyfile == "/etc/hastack/key"


def test_inline_key_without_keyfile_is_refused() -> None:
    assert error_of(conf("    key: 0123456789abcdef\n")).option == "totem.key"


# ---- crypto ---------------------------------------------------------------------------
@pytest.mark.parametrize(("options", "cipher", "warned"), [
    ("", "none", False),
    ("crypto_cipher: aes256\n    crypto_hash: sha256", "aes256", False),
    ("crypto_cipher: aes128\n    crypto_hash: sha256", "aes256", True),
    ("crypto_cipher: aes192\n    crypto_hash: sha1", "aes256", True),
    ("crypto_cipher: none\n    crypto_hash: sha512", "none", True),
    ("crypto_cipher: none\n    crypto_hash: none", "none", True),
    ("secauth: on", "aes256", False),
    ("secauth: off", "none", False),
])
def test_crypto_mapping(options: str, cipher: str, warned: bool) -> None:
    cfg = parse(conf(f"    {options}\n" if options else ""))
    assert (cfg.crypto_cipher, cfg.crypto_hash) == (cipher, "sha256")
    assert bool(cfg.warnings) is warned


def test_cipher_without_hash_is_refused_as_corosync_does() -> None:
    assert error_of(conf("    crypto_cipher: aes256\n")).option == "totem.crypto_cipher"


@pytest.mark.parametrize("option", ["crypto_cipher: des", "crypto_hash: sha3"])
def test_unknown_cipher_or_hash_is_refused(option: str) -> None:
    assert "expected one of" in error_of(conf(f"    {option}\n")).message


def test_crypto_on_udpu_is_applied_with_a_warning() -> None:
    cfg = parse(conf("    transport: udpu\n    crypto_cipher: aes256\n    crypto_hash: sha256\n"))
    assert cfg.crypto_cipher == "aes256" and "only with knet" in cfg.warnings[0]


# ---- nodelist { } ---------------------------------------------------------------------
def test_nodelist_is_required() -> None:
    err = error_of("totem {\n    version: 2\n}\n")
    assert (err.option, err.line) == ("nodelist", None)


def test_node_without_ring0_addr_is_refused() -> None:
    err = error_of(conf(nodes=NODES.replace("ring0_addr: 10.0.0.2", "name: b")))
    assert (err.option, err.line) == ("nodelist.node.ring0_addr", 6)


def test_node_without_nodeid_is_refused_and_says_why() -> None:
    err = error_of(conf(nodes=NODES.replace("        nodeid: 2\n", "")))
    assert (err.option, err.line) == ("nodelist.node.nodeid", 6)
    assert "explicit nodeid" in err.message


def test_duplicate_nodeid_names_both_nodes() -> None:
    err = error_of(conf(nodes=NODES.replace("nodeid: 2", "nodeid: 1")))
    assert (err.option, err.line) == ("nodelist.node.nodeid", 8)
    assert "node at line 2" in err.message


def test_duplicate_address_in_another_spelling_is_refused() -> None:
    nodes = NODES.replace("10.0.0.1", "fe80::1").replace("10.0.0.2", "fe80:0:0::1")
    assert error_of(conf(nodes=nodes)).option == "nodelist.node.ring0_addr"


@pytest.mark.parametrize("nodeid", ["0", "4294967296", "one"])
def test_nodeid_out_of_range_is_refused(nodeid: str) -> None:
    assert error_of(conf(nodes=NODES.replace("nodeid: 2", f"nodeid: {nodeid}"))).line == 8


def test_mixed_ip_families_are_refused() -> None:
    err = error_of(conf(nodes=NODES.replace("10.0.0.2", "fe80::2")))
    assert err.line == 7 and "IP family" in err.message


def test_other_links_and_unknown_node_options_warn() -> None:
    nodes = NODES.replace("nodeid: 1\n", "nodeid: 1\n        ring1_addr: 10.1.0.1\n"
                                        "        colour: blue\n")
    warnings = parse(conf(nodes=nodes)).warnings
    assert [w.split(": ")[1] for w in warnings] == ["nodelist.node.ring1_addr",
                                                     "nodelist.node.colour"]


def test_node_name_and_votes() -> None:
    nodes = NODES.replace("nodeid: 2\n", "nodeid: 2\n        name: b\n        quorum_votes: 3\n")
    cfg = parse(conf(nodes=nodes))
    assert cfg.nodes == (NodeEntry(1, "10.0.0.1", None, 1), NodeEntry(2, "10.0.0.2", "b", 3))


def test_node_by_id_raises_key_error_for_unknown_ids() -> None:
    cfg = parse(conf())
    assert cfg.node_by_id(2).ring0_addr == "10.0.0.2"
    with pytest.raises(KeyError):
        cfg.node_by_id(3)


@pytest.mark.parametrize(("addr", "nodeid"), [
    ("10.0.0.1", 1), ("::ffff:10.0.0.2", 2), ("10.0.0.9", None), ("not-an-ip", None)])
def test_node_by_addr_normalises_ip_literals(addr: str, nodeid: int | None) -> None:
    node = parse(conf()).node_by_addr(addr)
    assert (node.nodeid if node else None) == nodeid


def test_node_by_addr_matches_host_names_case_insensitively() -> None:
    cfg = parse(conf(nodes=NODES.replace("10.0.0.1", "Node-A.example.")))
    assert cfg.node_by_addr("node-a.example") == cfg.node_by_id(1)


# ---- quorum { } -----------------------------------------------------------------------
def test_no_quorum_section_means_no_quorum() -> None:
    assert parse(conf()).quorum is None


def test_quorum_options_without_provider_warn() -> None:
    cfg = parse(conf(tail="quorum {\n    two_node: 1\n}\n"))
    assert cfg.quorum is None and "no quorum provider" in cfg.warnings[0]


def test_unknown_quorum_provider_is_refused() -> None:
    text = conf(tail="quorum {\n    provider: corosync_qdevice\n}\n")
    assert error_of(text).option == "quorum.provider"


def test_quorum_switches_read_as_numbers() -> None:
    q = parse(quorum("    two_node: 1\n    wait_for_all: 0\n")).quorum
    assert q is not None and q.two_node and q.wait_for_all is False


def test_wait_for_all_unset_is_none() -> None:
    q = parse(quorum("    two_node: 1\n")).quorum
    assert q is not None and q.wait_for_all is None and q.effective_wait_for_all


def test_yes_is_refused_for_a_votequorum_switch() -> None:
    assert "expected 0 or 1" in error_of(quorum("    wait_for_all: yes\n")).message


def test_expected_votes_zero_means_unset() -> None:
    q = parse(quorum("    expected_votes: 0\n")).quorum
    assert q is not None and q.expected_votes is None


@pytest.mark.parametrize(("value", "parsed"), [("lowest", "lowest"), ("highest", "highest"),
                                               ("3 1", (3, 1))])
def test_auto_tie_breaker_node(value: str, parsed: object) -> None:
    q = parse(quorum(f"    auto_tie_breaker: 1\n    auto_tie_breaker_node: {value}\n",
                     nodes=NODES.replace("}\n}", "}\n    node {\n        ring0_addr: 10.0.0.3\n"
                                                  "        nodeid: 3\n    }\n    node {\n"
                                                  "        ring0_addr: 10.0.0.4\n        nodeid: 4"
                                                  "\n    }\n}"))).quorum
    assert q is not None and q.auto_tie_breaker_node == parsed


def test_bad_auto_tie_breaker_node_is_refused() -> None:
    text = quorum("    auto_tie_breaker: 1\n    auto_tie_breaker_node: first\n")
    assert error_of(text).option == "quorum.auto_tie_breaker_node"


def test_auto_tie_breaker_node_without_auto_tie_breaker_warns() -> None:
    assert "no effect" in parse(quorum("    auto_tie_breaker_node: 1\n")).warnings[0]


def test_quorum_config_errors_name_the_option_and_line() -> None:
    text = quorum("    two_node: 1\n", nodes=THREE_NODES)
    err = error_of(text)
    assert (err.option, err.line) == ("quorum.two_node", text.count("\n") - 1)


def test_odd_auto_tie_breaker_without_wait_for_all_is_refused() -> None:
    err = error_of(quorum("    auto_tie_breaker: 1\n", nodes=THREE_NODES))
    assert err.option == "quorum.auto_tie_breaker" and "wait_for_all" in err.message


def test_a_nodelist_without_votes_is_refused_naming_quorum_votes() -> None:
    nodes = NODES.replace("nodeid: 1\n", "nodeid: 1\n        quorum_votes: 0\n").replace(
        "nodeid: 2\n", "nodeid: 2\n        quorum_votes: 0\n")
    assert error_of(quorum("", nodes=nodes)).option == "nodelist.node.quorum_votes"


def test_qdevice_and_unsupported_quorum_options_warn() -> None:
    text = quorum("    allow_downscale: 1\n    device {\n        model: net\n    }\n")
    warnings = parse(text).warnings
    assert len(warnings) == 2 and "qdevice" in warnings[1]


# ---- logging { } ----------------------------------------------------------------------
def test_logging_switches() -> None:
    text = conf(tail="logging {\n    to_stderr: off\n    to_syslog: no\n    timestamp: hires\n"
                     "    debug: trace\n    to_logfile: on\n    logfile: /tmp/x.log\n}\n")
    assert parse(text).logging == LoggingConfig(False, True, "/tmp/x.log", False, True, True)


def test_timestamp_off() -> None:
    assert parse(conf(tail="logging {\n    timestamp: off\n}\n")).logging.timestamp is False


def test_log_file_without_path_is_refused() -> None:
    assert error_of(conf(tail="logging {\n    to_logfile: yes\n}\n")).option == "logging.to_logfile"


def test_bad_logging_value_is_refused() -> None:
    assert error_of(conf(tail="logging {\n    debug: verbose\n}\n")).option == "logging.debug"


def test_logger_subsys_needs_subsys() -> None:
    text = conf(tail="logging {\n    logger_subsys {\n        debug: on\n    }\n}\n")
    assert error_of(text).option == "logging.logger_subsys"


def test_deprecated_to_file_is_used_with_a_warning() -> None:
    cfg = parse(conf(tail="logging {\n    to_file: yes\n    logfile: /tmp/y.log\n}\n"))
    assert cfg.logging.to_logfile and "deprecated" in cfg.warnings[0]


# ---- other sections -------------------------------------------------------------------
def test_unknown_sections_warn_and_known_ones_are_silent() -> None:
    text = conf(tail="system {\n    sched_rr: yes\n}\nresources {\n}\nfrobnicate {\n}\n")
    warnings = parse(text).warnings
    assert len(warnings) == 1 and "frobnicate: unknown section" in warnings[0]


def test_top_level_option_warns() -> None:
    assert "unknown top-level option" in parse("colour: blue\n" + conf()).warnings[0]


# ---- load -----------------------------------------------------------------------------
def test_load_names_the_path(tmp_path: Path) -> None:
    path = tmp_path / "c.conf"
    path.write_text(conf("    knet_mtu: 1400\n"))
    assert load(str(path)).warnings[0].startswith(f"{path}:{TOTEM_LINE}: ")


def test_load_of_a_missing_file_raises_config_error(tmp_path: Path) -> None:
    err = pytest.raises(ConfigError, load, str(tmp_path / "none.conf")).value
    assert err.filename == str(tmp_path / "none.conf") and err.line is None


def test_load_refuses_non_utf8_naming_the_line(tmp_path: Path) -> None:
    path = tmp_path / "latin1.conf"
    path.write_bytes(conf().encode() + b"# caf\xe9\n")
    assert pytest.raises(ConfigError, load, str(path)).value.line == conf().count("\n") + 1


# ---- never anything but ConfigError ---------------------------------------------------
@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from("{}:#\n\t \u00a0abc0129-_.totemnodelistquorum"),
               max_size=300))
def test_arbitrary_text_gives_a_config_or_a_config_error(text: str) -> None:
    with contextlib.suppress(ConfigError):
        assert isinstance(parse(text), ClusterConfig)


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_mutated_fixture_gives_a_config_or_a_config_error(data: st.DataObject) -> None:
    lines = (DATA / "quorum-options.conf").read_text().split("\n")
    i = data.draw(st.integers(0, len(lines) - 1))
    lines[i] = data.draw(st.sampled_from([
        "", "}", "{", "x {", lines[i] + " 1", lines[i].replace(":", ""), lines[i].upper(),
        lines[i] + "0" * 50, "    nodeid: 10", "    ring0_addr: 10.0.0.1", "    wait_for_all: 0"]))
    with contextlib.suppress(ConfigError):
        parse("\n".join(lines))


# ---- resolve --------------------------------------------------------------------------
@pytest.mark.parametrize("addr", ["10.1.2.3", "fe80::1"])
def test_resolve_returns_literals(addr: str) -> None:
    assert resolve(addr) == addr


def test_resolve_honours_ip_version() -> None:
    with pytest.raises(OSError):
        resolve("fe80::1", ip_version="ipv4")


def test_resolve_raises_os_error_for_names_that_cannot_resolve() -> None:
    with pytest.raises(OSError):
        resolve("x" * 64 + ".example")  # a DNS label over 63 bytes fails before any lookup


def test_resolve_refuses_an_unknown_ip_version() -> None:
    with pytest.raises(ValueError):
        resolve("10.1.2.3", ip_version="ipv5")
