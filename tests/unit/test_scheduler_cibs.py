"""Small hand-made CIBs for the scheduler's unit tests (each checked against crm_simulate; no tests here)."""

from __future__ import annotations

from lxml import etree

from ha.cib.xml import parse

DIGEST_NO_PARAMS = "f2317cad3d54cec5d7d7aa7d0bf35cf8"


def prim(rid: str, meta: str = "", params: str = "") -> str:
    return (f'<primitive id="{rid}" class="ocf" provider="pacemaker" type="Dummy">'
            f'<instance_attributes id="{rid}-i">{params}</instance_attributes>'
            f'<meta_attributes id="{rid}-m">{meta}</meta_attributes></primitive>')


def nv(name: str, value: str) -> str:
    return f'<nvpair id="nv-{name}-{value}" name="{name}" value="{value}"/>'


def op(rid: str, task: str, rc: int = 0, call: int = 2, digest: str = DIGEST_NO_PARAMS,
       interval: int = 0) -> str:
    target = 7 if task == "monitor" and interval == 0 else 0
    key = f"{call}:1:{target}:0f3e2c6a-0000-4000-8000-000000000000"
    return (f'<lrm_rsc_op id="{rid}_{task}_{interval}_{call}" operation_key="{rid}_{task}_{interval}"'
            f' operation="{task}" call-id="{call}" rc-code="{rc}" op-status="0"'
            f' transition-key="{key}" transition-magic="0:{rc};{key}"'
            f' interval="{interval}" op-digest="{digest}"/>')


def history(rid: str, *ops: str) -> str:
    return (f'<lrm_resource id="{rid}" class="ocf" provider="pacemaker" type="Dummy">'
            f'{"".join(ops)}</lrm_resource>')


def node_state(uname: str, nid: str, lrm: str = "", online: bool = True,
               transient: str = "") -> str:
    state = ('in_ccm="true" crmd="online" join="member"' if online
             else 'in_ccm="false" crmd="offline" join="down"')
    return (f'<node_state id="{nid}" uname="{uname}" {state} expected="member">'
            f'<transient_attributes id="t{nid}"><instance_attributes id="ti{nid}">{transient}'
            f'</instance_attributes></transient_attributes>'
            f'<lrm id="{nid}"><lrm_resources>{lrm}</lrm_resources></lrm></node_state>')


def cib(nodes: list[str], resources: str = "", constraints: str = "", status: str = "",
        props: str = "", rsc_defaults: str = "", node_attrs: dict[str, str] | None = None
        ) -> etree._Element:
    attrs = node_attrs or {}
    ns = "".join(f'<node id="{i + 1}" uname="{n}">'
                 f'<instance_attributes id="na{i}">{attrs.get(n, "")}</instance_attributes></node>'
                 for i, n in enumerate(nodes))
    text = (f'<cib validate-with="pacemaker-3.0" crm_feature_set="3.16.0" epoch="1"'
            f' num_updates="0" admin_epoch="0" have-quorum="1"><configuration><crm_config>'
            f'<cluster_property_set id="o">{nv("stonith-enabled", "false")}{props}'
            f'</cluster_property_set></crm_config><nodes>{ns}</nodes>'
            f'<resources>{resources}</resources><constraints>{constraints}</constraints>'
            f'<rsc_defaults><meta_attributes id="rd">{rsc_defaults}</meta_attributes>'
            f'</rsc_defaults></configuration><status>{status}</status></cib>')
    return parse(text)


def two_nodes(lrm1: str = "", lrm2: str = "") -> str:
    return node_state("node1", "1", lrm1) + node_state("node2", "2", lrm2)
