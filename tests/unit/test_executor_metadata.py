"""Agent meta-data XML → dataclasses; LSB INIT INFO → meta-data."""

from __future__ import annotations

import pytest

from ha.executor.metadata import (
    MetadataError,
    lsb_header,
    lsb_metadata_xml,
    parse_metadata,
)

XML = """<?xml version="1.0"?>
<!DOCTYPE resource-agent SYSTEM "ra-api-1.dtd">
<resource-agent name="Thing" version="2.0">
<version>1.1</version>
<longdesc lang="en">A long
   description.</longdesc>
<shortdesc lang="en">A thing</shortdesc>
<parameters>
<parameter name="ip" unique="1" required="1">
<shortdesc lang="en">IP</shortdesc>
<content type="string"/>
</parameter>
<parameter name="count" reloadable="1">
<content type="integer" default="3"/>
</parameter>
<parameter name="mode" unique-group="g">
<deprecated/>
<content type="select" default="a"><option value="a"/><option value="b"/></content>
</parameter>
</parameters>
<actions>
<action name="start" timeout="20s"/>
<action name="monitor" depth="0" timeout="20" interval="10s" role="Promoted"/>
<action name="monitor" depth="10" timeout="PT30S" interval="1min" start-delay="5s"/>
<action name="meta-data" timeout="5s"/>
</actions>
</resource-agent>
"""


def test_parameters() -> None:
    md = parse_metadata(XML)
    assert (md.name, md.version, md.ocf_version) == ("Thing", "2.0", "1.1")
    assert md.longdesc == "A long description."
    ip = md.parameter("ip")
    assert ip is not None and ip.required and ip.unique and ip.type == "string"
    assert ip.default is None and ip.shortdesc == "IP"
    count = md.parameter("count")
    assert count is not None and count.default == "3" and count.reloadable
    assert count.type == "integer" and not count.required
    mode = md.parameter("mode")
    assert mode is not None and mode.deprecated and mode.values == ("a", "b")
    assert mode.unique_group == "g"


def test_actions() -> None:
    md = parse_metadata(XML)
    start = md.action("start")
    assert start is not None and start.timeout_ms == 20_000 and start.interval_ms == 0
    promoted = md.action("monitor", 10_000)
    assert promoted is not None and promoted.role == "Promoted" and promoted.depth == 0
    assert promoted.timeout_ms == 20_000
    deep = md.action("monitor", 60_000)
    assert deep is not None and deep.depth == 10 and deep.timeout_ms == 30_000
    assert deep.start_delay_ms == 5_000
    assert md.to_dict()["parameters"][2]["values"] == ["a", "b"]


@pytest.mark.parametrize("bad, problem", [
    ("", "no meta-data"), ("<resource-agent", "not well-formed"),
    ("<cib/>", "expected <resource-agent>"),
    ('<resource-agent><actions><action name="start" timeout="soon"/></actions>'
     "</resource-agent>", "timeout='soon' is not a duration"),
    ("<resource-agent><parameters><parameter/></parameters></resource-agent>", "has no name"),
])
def test_bad_metadata_is_refused_with_the_reason(bad: str, problem: str) -> None:
    with pytest.raises(MetadataError, match=problem):
        parse_metadata(bad, "ocf:x:Thing")


def test_entities_are_not_expanded() -> None:
    evil = ('<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
            '<resource-agent name="a"><shortdesc>&x;</shortdesc></resource-agent>')
    assert "root" not in parse_metadata(evil).shortdesc


SCRIPT = """#!/bin/sh
### BEGIN INIT INFO
# Provides:          demo
# Required-Start:    $local_fs
# Short-Description: A demo service
# Description:       It does
#                    demo things.
### END INIT INFO
echo hi
"""


def test_lsb_header_and_metadata() -> None:
    info = lsb_header(SCRIPT)
    assert info["Provides"] == "demo"
    assert info["Description"] == "It does demo things."
    md = parse_metadata(lsb_metadata_xml("demo", SCRIPT))
    assert md.name == "demo" and md.shortdesc == "A demo service"
    assert md.parameters == ()
    assert {a.name for a in md.actions} >= {"start", "stop", "status", "monitor"}
