"""Finding a primitive's agent, attributes and op timeouts in a CIB (ha resource op)."""

from __future__ import annotations

import pytest

from ha.cib.xml import parse
from ha.executor.agent import AgentError
from ha.executor.cib_resource import ResourceNotFound, find_resource

CIB = """<cib crm_feature_set="3.17.4" validate-with="pacemaker-3.9" epoch="1" num_updates="0"
 admin_epoch="0"><configuration><crm_config/><nodes/>
<resources>
  <template id="tmpl" class="ocf" provider="heartbeat" type="Dummy">
    <instance_attributes id="t-ia"><nvpair id="t1" name="state" value="/t"/>
      <nvpair id="t2" name="fake" value="tf"/></instance_attributes>
    <operations><op id="t-start" name="start" interval="0" timeout="33s"/></operations>
  </template>
  <primitive id="fromtmpl" template="tmpl">
    <instance_attributes id="f-ia"><nvpair id="f1" name="fake" value="mine"/></instance_attributes>
  </primitive>
  <group id="g">
    <meta_attributes id="g-m"><nvpair id="g1" name="target-role" value="Stopped"/></meta_attributes>
    <primitive id="ip" class="ocf" provider="heartbeat" type="IPaddr2">
      <instance_attributes id="ip-ia"><nvpair id="ip1" name="ip" value="10.0.0.1"/></instance_attributes>
      <operations>
        <op id="ip-mon-20" name="monitor" interval="20s" timeout="9s"/>
        <op id="ip-mon-5" name="monitor" interval="5s" timeout="8s">
          <instance_attributes id="ip-mon-ia"><nvpair id="ck" name="OCF_CHECK_LEVEL" value="10"/></instance_attributes>
        </op>
      </operations>
    </primitive>
  </group>
  <clone id="st-clone">
    <meta_attributes id="c-m"><nvpair id="c1" name="promotable" value="true"/></meta_attributes>
    <primitive id="st" class="ocf" provider="pacemaker" type="Stateful"/>
  </clone>
  <primitive id="svc" class="lsb" type="demo"/>
  <primitive id="bad" class="systemd" type="demo"/>
</resources>
<op_defaults><meta_attributes id="od"><nvpair id="od1" name="timeout" value="45s"/></meta_attributes></op_defaults>
<rsc_defaults><meta_attributes id="rd"><nvpair id="rd1" name="resource-stickiness" value="1"/></meta_attributes></rsc_defaults>
<constraints/></configuration><status/></cib>"""


@pytest.fixture(scope="module")
def root():  # type: ignore[no-untyped-def]
    return parse(CIB.encode(), "test")


def test_template_params_and_ops(root) -> None:  # type: ignore[no-untyped-def]
    r = find_resource(root, "fromtmpl")
    assert str(r.agent) == "ocf:heartbeat:Dummy"
    assert r.params == {"state": "/t", "fake": "mine"}
    assert r.timeout_ms("start") == 33_000
    assert r.timeout_ms("stop") == 45_000            # op_defaults
    assert r.meta["resource-stickiness"] == "1"      # rsc_defaults


def test_group_member_meta_and_probe_timeout(root) -> None:  # type: ignore[no-untyped-def]
    r = find_resource(root, "ip")
    assert r.parent == "g" and r.meta["target-role"] == "Stopped"
    assert r.timeout_ms("monitor", 20_000) == 9_000
    probe = r.op("monitor", 0)                       # the shortest-interval monitor
    assert probe is not None and probe.timeout_ms == 8_000
    assert probe.params == {"OCF_CHECK_LEVEL": "10"}


def test_clone_by_its_id_and_by_instance(root) -> None:  # type: ignore[no-untyped-def]
    assert find_resource(root, "st-clone").id == "st"
    inst = find_resource(root, "st:1")
    assert inst.id == "st:1" and inst.meta["promotable"] == "true"


def test_lsb_and_errors(root) -> None:  # type: ignore[no-untyped-def]
    assert str(find_resource(root, "svc").agent) == "lsb:demo"
    with pytest.raises(ResourceNotFound, match="no resource named 'nope'"):
        find_resource(root, "nope")
    with pytest.raises(ResourceNotFound, match="is a group"):
        find_resource(root, "g")
    with pytest.raises(AgentError, match="systemd"):
        find_resource(root, "bad")
