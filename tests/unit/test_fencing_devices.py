"""Fence devices, pcmk_* options and topology levels read from a CIB; timeouts and delays."""

from __future__ import annotations

import random

import pytest
from lxml import etree

from ha.fencing.devices import (
    DeviceConfigError,
    device_from_primitive,
    devices_from_cib,
    parse_host_map,
    stonith_timeout_s,
)
from ha.fencing.plan import TIMEOUT_MULTIPLY_FACTOR, fencing_delay_s, total_timeout_s
from ha.fencing.topology import TopologyError, level_from_xml, levels_for, levels_from_cib


def prim(rid: str, agent: str = "fence_dummy", meta: str = "", **attrs: str) -> str:
    nvs = "".join(f'<nvpair id="{rid}-{k}" name="{k}" value="{v}"/>' for k, v in attrs.items())
    return (f'<primitive id="{rid}" class="stonith" type="{agent}">{meta}'
            f'<instance_attributes id="{rid}-ia">{nvs}</instance_attributes></primitive>')


def cib(resources: str = "", topology: str = "", props: str = "", nodes: str = "") -> etree._Element:
    return etree.fromstring(
        f'<cib><configuration><crm_config><cluster_property_set id="o">{props}'
        f'</cluster_property_set></crm_config><nodes>{nodes}</nodes>'
        f'<resources>{resources}</resources><constraints/>'
        f'<fencing-topology>{topology}</fencing-topology></configuration><status/></cib>')


def test_devices_and_their_options() -> None:
    root = cib(prim("ipmi1", "fence_ipmilan", ip="10.0.0.1", pcmk_host_list="n1, n2;n3",
                    pcmk_off_timeout="30s", pcmk_off_retries="4", pcmk_reboot_action="off",
                    pcmk_delay_max="10s")
               + '<primitive id="d1" class="ocf" provider="pacemaker" type="Dummy"/>')
    devices, problems = devices_from_cib(root)
    assert list(devices) == ["ipmi1"] and problems == []
    d = devices["ipmi1"]
    assert d.agent == "fence_ipmilan" and d.agent_params() == {"ip": "10.0.0.1"}
    assert d.host_list == ("n1", "n2", "n3")
    assert d.timeout_for("off", 60) == 30 and d.timeout_for("on", 60) == 60
    assert d.retries_for("off") == 4 and d.retries_for("reboot") == 2
    assert d.action_for("reboot") == "off" and d.action_for("on") == "on"
    assert d.delay_max_s == 10


def test_disabled_device_left_out_with_reason() -> None:
    meta = ('<meta_attributes id="x-m"><nvpair id="x-m-r" name="target-role" value="Stopped"/>'
            '</meta_attributes>')
    devices, problems = devices_from_cib(cib(prim("x", meta=meta) + prim("y")))
    assert list(devices) == ["y"] and "'x': disabled" in problems[0]


def test_bad_option_names_device_and_option() -> None:
    devices, problems = devices_from_cib(cib(prim("z", pcmk_host_check="sometimes")))
    assert devices == {} and "'z': pcmk_host_check 'sometimes'" in problems[0]
    for bad, error in (({"pcmk_off_timeout": "soon"}, "z: pcmk_off_timeout: 'soon'"),
                       ({"pcmk_reboot_retries": "many"}, "z: pcmk_reboot_retries 'many'")):
        devices, problems = devices_from_cib(cib(prim("z", **bad)))
        assert devices == {} and error in problems[0]


def test_host_map_and_check_defaults() -> None:
    assert parse_host_map("n1:plug1;n2=plug2 n3:3") == {"n1": "plug1", "n2": "plug2", "n3": "3"}
    with pytest.raises(DeviceConfigError, match="'n4' is not node:value"):
        parse_host_map("n4")
    mapped = device_from_primitive(etree.fromstring(prim("m", pcmk_host_map="n1:7;n2:8")))
    assert mapped.host_value("n1") == "7" and mapped.host_value("n9") == "n9"
    assert mapped.static_targets() == ("n1", "n2")
    assert mapped.host_check_for(True, True) == "static-list"
    bare = device_from_primitive(etree.fromstring(prim("b")))
    assert bare.host_check_for(True, True) == "dynamic-list"
    assert bare.host_check_for(False, True) == "status"
    assert bare.host_check_for(False, False) == "none"
    forced = device_from_primitive(etree.fromstring(prim("f", pcmk_host_list="n1",
                                                         pcmk_host_check="none")))
    assert forced.host_check_for(True, True) == "none"


def test_total_timeout_is_1_2_times_the_sum_of_device_budgets() -> None:
    a = device_from_primitive(etree.fromstring(prim("a", pcmk_reboot_timeout="10s")))
    b = device_from_primitive(etree.fromstring(prim("b", pcmk_delay_max="5s")))
    assert TIMEOUT_MULTIPLY_FACTOR == 1.2
    # a: 10 s; b: stonith-timeout 20 s + its 5 s delay allowance
    assert total_timeout_s([a, b], "reboot", 20.0) == pytest.approx(1.2 * (10 + 20 + 5))
    assert total_timeout_s([], "reboot", 20.0) == pytest.approx(24.0)
    assert stonith_timeout_s(cib(props='<nvpair id="t" name="stonith-timeout" value="90s"/>')) == 90


def test_delay_from_seeded_generator_within_base_and_max() -> None:
    d = device_from_primitive(etree.fromstring(prim("d", pcmk_delay_base="2s",
                                                    pcmk_delay_max="10s")))
    first = [fencing_delay_s(d, "n1", "reboot", random.Random(7)) for _ in range(2)]
    assert first[0] == first[1]                               # same seed, same delay
    draws = [fencing_delay_s(d, "n1", "off", random.Random(s)) for s in range(50)]
    assert all(2 <= x <= 10 for x in draws) and len(set(draws)) > 40
    assert fencing_delay_s(d, "n1", "on", random.Random(1)) == 0      # not before "on"
    per_node = device_from_primitive(etree.fromstring(prim("p", pcmk_delay_base="n1:5s;n2:0")))
    assert fencing_delay_s(per_node, "n1", "off", random.Random(1)) == 5
    assert fencing_delay_s(per_node, "n2", "off", random.Random(1)) == 0


def test_levels_in_index_order_by_target_pattern_attribute() -> None:
    topo = ('<fencing-level id="l2" index="2" target="n1" devices="pdu1,pdu2"/>'
            '<fencing-level id="l1" index="1" target="n1" devices="ipmi1"/>'
            '<fencing-level id="p1" index="1" target-pattern="^web" devices="ipmiw"/>'
            '<fencing-level id="a1" index="1" target-attribute="rack" target-value="r2" '
            'devices="pdu-r2"/>')
    nodes = ('<node id="3" uname="db3"><instance_attributes id="i3"><nvpair id="i3r" '
             'name="rack" value="r2"/></instance_attributes></node>')
    root = cib(topology=topo, nodes=nodes)
    levels, problems = levels_from_cib(root)
    assert problems == []
    attrs = {"db3": {"rack": "r2"}}
    assert [(lv.index, lv.devices) for lv in levels_for("n1", levels, attrs)] == \
        [(1, ("ipmi1",)), (2, ("pdu1", "pdu2"))]
    assert [lv.id for lv in levels_for("web7", levels, attrs)] == ["p1"]
    assert [lv.id for lv in levels_for("db3", levels, attrs)] == ["a1"]
    assert levels_for("db4", levels, attrs) == []


@pytest.mark.parametrize("xml,error", [
    ('<fencing-level id="x" index="0" target="n" devices="d"/>', "index 0"),
    ('<fencing-level id="x" index="1" devices="d"/>', "exactly one of target"),
    ('<fencing-level id="x" index="1" target="n" devices=""/>', "no devices"),
    ('<fencing-level id="x" index="1" target-pattern="(" devices="d"/>', "target-pattern '\\('"),
])
def test_bad_level_refused_with_reason(xml: str, error: str) -> None:
    with pytest.raises(TopologyError, match=error):
        level_from_xml(etree.fromstring(xml))
