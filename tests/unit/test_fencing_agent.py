"""The fence-agent API without I/O: stdin text, host argument, metadata, results."""

from __future__ import annotations

import pytest

from ha.fencing.agent import (
    MetadataError,
    agent_stdin,
    host_argument,
    judge,
    parse_list_output,
    parse_metadata,
)

METADATA = """<?xml version="1.0" ?>
<resource-agent name="fence_x" shortdesc="X power switch">
<longdesc>Switches
 things.</longdesc>
<parameters>
  <parameter name="ip" unique="0" required="1">
    <content type="string"/><shortdesc lang="en">Address</shortdesc></parameter>
  <parameter name="plug" unique="0" required="0" obsoletes="port">
    <content type="string"/><shortdesc lang="en">Plug</shortdesc></parameter>
  <parameter name="port" deprecated="1"><content type="string"/></parameter>
  <parameter name="power_wait"><content type="second" default="0"/></parameter>
</parameters>
<actions><action name="on" automatic="1"/><action name="off"/><action name="list"/>
<action name="status"/><action name="metadata"/></actions>
</resource-agent>"""


def test_stdin_lines_action_first_pcmk_options_left_out() -> None:
    text = agent_stdin({"ip": "10.0.0.1", "pcmk_host_list": "n1", "pcmk_off_timeout": "5",
                        "provides": "unfencing", "login": "admin"}, "off", "n1", "plug")
    assert text == "action=off\nip=10.0.0.1\nlogin=admin\nnodename=n1\nplug=n1\n"


def test_stdin_without_target_has_no_nodename_or_host_argument() -> None:
    assert agent_stdin({"ip": "a"}, "list", None, "plug") == "action=list\nip=a\n"


def test_stdin_keeps_a_host_argument_the_device_sets() -> None:
    text = agent_stdin({"plug": "outlet7"}, "reboot", "n2", "plug")
    assert text.splitlines() == ["action=reboot", "plug=outlet7", "nodename=n2"]


def test_stdin_refuses_a_value_with_a_newline() -> None:
    with pytest.raises(ValueError, match="'ip'"):
        agent_stdin({"ip": "a\naction=on"}, "off", "n1", None)


def test_host_argument_selection() -> None:
    md = parse_metadata(METADATA)
    assert host_argument(None, md) == "plug"               # plug before port
    assert host_argument("port", md) == "port"             # pcmk_host_argument wins
    assert host_argument("none", md) is None               # none: no host argument
    bare = parse_metadata('<resource-agent name="d"><parameters><parameter name="port">'
                          '<content type="string"/></parameter></parameters></resource-agent>')
    assert host_argument(None, bare) == "port"
    empty = parse_metadata('<resource-agent name="e"/>')
    assert host_argument(None, empty) is None
    assert host_argument(None, None) is None


def test_metadata_parsed() -> None:
    md = parse_metadata(METADATA)
    assert md.name == "fence_x" and md.shortdesc == "X power switch"
    assert md.longdesc == "Switches things."
    assert [p.name for p in md.parameters] == ["ip", "plug", "port", "power_wait"]
    ip = md.parameters[0]
    assert ip.required and ip.type == "string" and ip.shortdesc == "Address"
    assert md.parameters[3].type == "second" and md.parameters[3].default == "0"
    assert md.parameters[2].deprecated and md.parameters[1].obsoletes == "port"
    assert md.actions == ("on", "off", "list", "status", "metadata")
    assert md.supports("list") and not md.supports("reboot") and md.automatic_on


@pytest.mark.parametrize("text,error", [
    ("not xml", "not XML"),
    ("<resource-agents/>", "expected <resource-agent>"),
    ('<resource-agent name="x"><parameters><parameter/></parameters></resource-agent>',
     "parameter #1 has no name"),
])
def test_bad_metadata_refused_with_reason(text: str, error: str) -> None:
    with pytest.raises(MetadataError, match=error):
        parse_metadata(text)


def test_judge() -> None:
    assert judge("off", 0, False) == (True, "ok")
    assert judge("status", 2, False) == (True, "off")
    assert judge("off", 2, False) == (False, "agent exited with status 2")
    assert judge("off", 0, True) == (False, "timed out")


def test_list_output() -> None:
    out = "node1,alias1\nnode2\n\nnode3,node3-ipmi,on\n  node4 off\n"
    assert parse_list_output(out) == ["node1", "alias1", "node2", "node3", "node3-ipmi", "node4"]
