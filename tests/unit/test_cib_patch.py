"""ha.cib.patch: Pacemaker's v2 patchsets — diff, apply, refusals, describe; and, when
crm_diff is installed, conformance with it both ways."""

from __future__ import annotations

import random
import shutil
import subprocess
from pathlib import Path

import pytest
from lxml import etree

from ha.cib.patch import PatchError, apply, describe, diff
from ha.cib.versions import canonical, filtered_digest, set_version, version

OLD = b"""<cib admin_epoch="0" epoch="5" num_updates="2" crm_feature_set="3.16.1"
     validate-with="pacemaker-3.9">
  <configuration>
    <crm_config/>
    <nodes/>
    <resources>
      <primitive id="d1" class="ocf" provider="pacemaker" type="Dummy"/>
      <primitive id="d2" class="ocf" provider="pacemaker" type="Stateful" description="x"/>
      <!-- keep -->
      <primitive id="d3" class="ocf" provider="pacemaker" type="Dummy"/>
    </resources>
    <constraints><rsc_location id="l1" rsc="d1" node="n1" score="100"/></constraints>
  </configuration>
  <status><node_state id="1" uname="n1"/></status>
</cib>"""

CORPUS = Path(__file__).resolve().parents[2] / ".." / "shared" / "pacemaker-scheduler" / "xml"
R = "/cib/configuration/resources"


def tree(data: bytes = OLD) -> etree._Element:
    return etree.fromstring(data, etree.XMLParser(remove_blank_text=True))


def edited(**changes: str) -> etree._Element:
    """OLD with text substitutions (old=new pairs via a dict of raw replacements)."""
    data = OLD
    for before, after in changes.items():
        data = data.replace(before.encode(), after.encode())
    return tree(data)


def roundtrip(old: etree._Element, new: etree._Element) -> etree._Element:
    patch = diff(old, new)
    result = apply(old, patch)
    assert canonical(result) == canonical(new)
    return patch


def attributes(element: etree._Element) -> dict[str, str]:
    return {str(k): str(v) for k, v in element.attrib.items()}


def changes(patch: etree._Element) -> list[tuple[str | None, str | None, str | None]]:
    return [(c.get("operation"), c.get("path"), c.get("position")) for c in patch.iterfind("change")]


def patch_of(body: str, source: str = "0.5.2", target: str = "0.6.0") -> etree._Element:
    def v(tag: str, text: str) -> str:
        a, e, n = text.split(".")
        return f'<{tag} admin_epoch="{a}" epoch="{e}" num_updates="{n}"/>'
    return tree(f'<diff format="2"><version>{v("source", source)}{v("target", target)}'
                f"</version>{body}</diff>".encode())


# ---- diff: what it writes ---------------------------------------------------------------

def test_no_change_gives_an_empty_patchset_with_versions() -> None:
    patch = diff(tree(), tree())
    assert changes(patch) == []
    assert patch.get("format") == "2"
    assert patch.find("version/source").attrib == {"admin_epoch": "0", "epoch": "5",  # type: ignore[union-attr]
                                                   "num_updates": "2"}


def test_create_names_the_parent_and_the_position() -> None:
    new = tree()
    new.find("configuration/resources").insert(1, etree.Element("primitive", id="d0"))  # type: ignore[union-attr]
    patch = roundtrip(tree(), new)
    assert changes(patch) == [("create", R, "1")]
    assert patch.find("change/primitive").get("id") == "d0"  # type: ignore[union-attr]


def test_delete_names_the_element_by_tag_and_id() -> None:
    new = tree()
    constraints = new.find("configuration/constraints")
    constraints.remove(constraints[0])  # type: ignore[index, union-attr]
    patch = roundtrip(tree(), new)
    assert changes(patch) == [("delete", "/cib/configuration/constraints/rsc_location[@id='l1']",
                               None)]


def test_modify_lists_set_and_unset_and_carries_the_result() -> None:
    new = edited(**{'type="Stateful" description="x"': 'type="Dummy"'})
    patch = roundtrip(tree(), new)
    assert changes(patch) == [("modify", f"{R}/primitive[@id='d2']", None)]
    attrs = [attributes(a) for a in patch.iterfind("change/change-list/change-attr")]
    assert attrs == [{"name": "type", "operation": "set", "value": "Dummy"},
                     {"name": "description", "operation": "unset"}]
    result = patch.find("change/change-result/primitive")
    assert result is not None and attributes(result) == {
        "id": "d2", "class": "ocf", "provider": "pacemaker", "type": "Dummy"}


def test_move_gives_the_new_position() -> None:
    new = tree()
    resources = new.find("configuration/resources")
    assert resources is not None
    resources.append(resources[0])                                  # d1 to the end
    patch = roundtrip(tree(), new)
    assert changes(patch) == [("move", f"{R}/primitive[@id='d1']", "3")]


def test_a_removed_comment_is_deleted_by_position() -> None:
    new = tree(OLD.replace(b"<!-- keep -->", b""))
    patch = roundtrip(tree(), new)
    assert changes(patch) == [("delete", f"{R}/comment", "2")]


def test_version_changes_are_a_modify_of_the_root() -> None:
    new = tree()
    set_version(new, (0, 6, 0))
    patch = roundtrip(tree(), new)
    assert changes(patch) == [("modify", "/cib", None)]
    assert patch.find("version/target").get("epoch") == "6"  # type: ignore[union-attr]


def test_reordered_attributes_are_no_change() -> None:
    new = edited(**{'class="ocf" provider="pacemaker" type="Dummy"/>\n      <primitive id="d2"':
                    'type="Dummy" provider="pacemaker" class="ocf"/>\n      <primitive id="d2"'})
    assert changes(diff(tree(), new)) == []


def test_children_no_path_can_tell_apart_replace_their_parent() -> None:
    old = tree(b'<cib><configuration><rule id="r"><expression attribute="a"/>'
               b'<expression attribute="b"/></rule></configuration></cib>')
    new = tree(b'<cib><configuration><rule id="r"><expression attribute="a"/>'
               b'<expression attribute="c"/></rule></configuration></cib>')
    patch = roundtrip(old, new)
    assert changes(patch) == [("delete", "/cib/configuration/rule[@id='r']", None),
                              ("create", "/cib/configuration", "0")]


def test_unchanged_duplicates_stay_untouched() -> None:
    old = tree(b'<cib><configuration><rule id="r" x="1"><e/><e/></rule></configuration></cib>')
    new = tree(b'<cib><configuration><rule id="r" x="2"><e/><e/></rule></configuration></cib>')
    assert [c[0] for c in changes(roundtrip(old, new))] == ["modify"]


def test_an_id_a_path_cannot_carry_is_replaced_with_its_parent() -> None:
    old = tree(b"""<cib><configuration><resources><primitive id="it's" a="1"/>"""
               b"""</resources></configuration></cib>""")
    new = tree(b"""<cib><configuration><resources><primitive id="it's" a="2"/>"""
               b"""</resources></configuration></cib>""")
    assert [c[0] for c in changes(roundtrip(old, new))] == ["delete", "create"]


def test_diff_refuses_different_roots() -> None:
    with pytest.raises(ValueError, match="roots differ"):
        diff(tree(), etree.fromstring(b"<other/>"))


# ---- apply ------------------------------------------------------------------------------

EXAMPLE = f"""
  <change operation="create" path="{R}" position="0"><primitive id="d0" type="Dummy"/></change>
  <change operation="delete" path="/cib/configuration/constraints/rsc_location[@id='l1']"/>
  <change operation="modify" path="{R}/primitive[@id='d2']">
    <change-list><change-attr name="type" operation="set" value="Dummy"/>
      <change-attr name="description" operation="unset"/></change-list>
    <change-result><primitive id="d2" class="ocf" provider="pacemaker" type="Dummy"/></change-result>
  </change>
  <change operation="move" path="{R}/primitive[@id='d1']" position="4"/>"""


def test_apply_performs_every_operation_and_takes_the_target_version() -> None:
    result = apply(tree(), patch_of(EXAMPLE))
    resources = result.find("configuration/resources")
    assert resources is not None
    assert [(c.get("id") if isinstance(c.tag, str) else "#") for c in resources] == [
        "d0", "d2", "#", "d3", "d1"]
    assert resources[1].get("type") == "Dummy" and resources[1].get("description") is None
    assert result.find("configuration/constraints/rsc_location") is None
    assert version(result) == (0, 6, 0)


def test_apply_returns_a_new_tree_and_leaves_the_input_alone() -> None:
    old = tree()
    before = etree.tostring(old)
    result = apply(old, patch_of(EXAMPLE))
    assert result is not old and etree.tostring(old) == before


def test_apply_refuses_another_base_version_naming_both() -> None:
    with pytest.raises(PatchError, match=r"CIB is at version 0\.5\.2 .* applies to version 0\.5\.3"):
        apply(tree(), patch_of(EXAMPLE, source="0.5.3", target="0.6.0"))


def test_apply_refuses_a_path_that_does_not_resolve_naming_change_and_path() -> None:
    body = EXAMPLE + f'<change operation="delete" path="{R}/primitive[@id=\'nope\']"/>'
    old = tree()
    before = etree.tostring(old)
    with pytest.raises(PatchError, match=r"change 5 \(delete .*primitive\[@id='nope'\]\)"):
        apply(old, patch_of(body))
    assert etree.tostring(old) == before                 # nothing half-applied


@pytest.mark.parametrize(("body", "what"), [
    ('<change path="/cib"/>', "operation=None"),
    ('<change operation="frob" path="/cib"/>', "operation='frob'"),
    ('<change operation="delete"/>', "has no path"),
    ('<change operation="delete" path="cib/x"/>', "does not start with"),
    ('<change operation="delete" path="/cib/a[1]"/>', "is not TAG"),
    ('<change operation="create" path="/cib"><x/></change>', "position=None"),
    ('<change operation="create" path="/cib" position="-1"><x/></change>', "negative"),
    ('<change operation="create" path="/cib" position="0"/>', "holds 0 nodes"),
    ('<change operation="create" path="/cib" position="0"><x/><y/></change>', "holds 2 nodes"),
    ('<change operation="modify" path="/cib"/>', "no <change-result>"),
    ('<change operation="modify" path="/cib"><change-result><status/></change-result></change>',
     "holds <status>"),
    ('<change operation="move" path="/cib/status" position="x"/>', "not an integer"),
    ("<extra/>", "unexpected <extra>"),
])
def test_apply_refuses_malformed_changes_naming_what(body: str, what: str) -> None:
    with pytest.raises(PatchError, match="malformed patch.*" + _re(what)):
        apply(tree(), patch_of(body))


def _re(text: str) -> str:
    import re
    return re.escape(text)


def test_apply_refuses_a_patch_that_is_not_a_format_2_diff() -> None:
    with pytest.raises(PatchError, match="expected <diff>"):
        apply(tree(), tree(b"<cib/>"))
    with pytest.raises(PatchError, match="format='1'"):
        apply(tree(), tree(b'<diff format="1"/>'))


def test_apply_refuses_bad_version_elements() -> None:
    bad = tree(b'<diff format="2"><version><source admin_epoch="0" epoch="5"/></version></diff>')
    with pytest.raises(PatchError, match="has no num_updates"):
        apply(tree(), bad)
    with pytest.raises(PatchError, match="target version 0.4.0 is older"):
        apply(tree(), patch_of("", target="0.4.0"))


def test_apply_refuses_to_delete_the_root() -> None:
    with pytest.raises(PatchError, match="cannot delete the root"):
        apply(tree(), patch_of('<change operation="delete" path="/cib"/>'))


def test_apply_checks_a_digest_when_the_patch_carries_one() -> None:
    new = edited(**{'type="Stateful"': 'type="Dummy"'})
    set_version(new, (0, 6, 0))
    patch = diff(tree(), new)
    patch.set("digest", filtered_digest(new))
    assert canonical(apply(tree(), patch)) == canonical(new)
    patch.set("digest", "0" * 32)
    with pytest.raises(PatchError, match="digest"):
        apply(tree(), patch)


def test_a_patch_without_versions_applies_to_any_version_and_counts_one_update() -> None:
    body = '<diff format="2"><change operation="delete" path="/cib/status/node_state[@id=\'1\']"/></diff>'
    result = apply(tree(), tree(body.encode()))
    assert result.find("status/node_state") is None
    assert version(result) == (0, 5, 3)


def test_a_create_beyond_the_end_appends() -> None:
    result = apply(tree(), patch_of(f'<change operation="create" path="{R}" position="99">'
                                    '<primitive id="z"/></change>'))
    assert result.find("configuration/resources")[-1].get("id") == "z"  # type: ignore[index]


def test_apply_refuses_a_move_that_cannot_reach_its_position() -> None:
    with pytest.raises(PatchError, match=r"change 1 \(move .*ends at position 3, not 9"):
        apply(tree(), patch_of(f'<change operation="move" path="{R}/primitive[@id=\'d1\']"'
                               ' position="9"/>'))


def test_apply_refuses_a_change_whose_element_a_later_change_deleted() -> None:
    body = (f'<change operation="move" path="{R}/primitive[@id=\'d1\']" position="2"/>'
            f'<change operation="delete" path="{R}"/>')
    with pytest.raises(PatchError, match="change 1 .*a later change deleted"):
        apply(tree(), patch_of(body))


def test_a_path_resolves_to_the_first_match_as_in_pacemaker() -> None:
    old = tree(b'<cib><status><x id="a" n="1"/><x id="a" n="2"/><y/><y n="3"/></status></cib>')
    body = ('<change operation="delete" path="/cib/status/x[@id=\'a\']"/>'
            '<change operation="delete" path="/cib/status/y"/>')
    result = apply(old, patch_of(body, "0.0.0", "0.0.1"))
    assert canonical(result.find("status")) == '<status><x id="a" n="2"/><y n="3"/></status>'  # type: ignore[arg-type]


def test_a_path_sees_an_id_a_modify_just_gave() -> None:
    body = (f'<change operation="modify" path="{R}/primitive[@id=\'d1\']"><change-result>'
            '<primitive id="dX"/></change-result></change>'
            f'<change operation="delete" path="{R}/primitive[@id=\'dX\']"/>')
    result = apply(tree(), patch_of(body))
    assert [p.get("id") for p in result.iter("primitive")] == ["d2", "d3"]


def test_processing_instructions_and_blank_text_are_no_content() -> None:
    old = tree(OLD.replace(b"<nodes/>", b"<nodes><?pi x?></nodes>"))
    result = apply(old, diff(old, tree()))
    assert canonical(result) == canonical(tree())
    assert not [n for n in result.iter() if isinstance(n, etree._ProcessingInstruction)]


def test_a_patch_survives_serialise_and_parse() -> None:
    from ha.cib.xml import parse, parse_fragment, serialise

    new = edited(**{'type="Stateful"': 'type="Dummy"', "<nodes/>": '<nodes><node id="1"/></nodes>'})
    patch = parse_fragment(serialise(diff(tree(), new)))
    assert canonical(apply(parse(serialise(tree())), patch)) == canonical(new)


# ---- describe ---------------------------------------------------------------------------

def test_describe_gives_one_line_per_change() -> None:
    lines = describe(patch_of(EXAMPLE))
    assert lines == [
        f"create <primitive id=d0> in {R} at position 0",
        "delete /cib/configuration/constraints/rsc_location[@id='l1']",
        f"modify {R}/primitive[@id='d2']: set type='Dummy', unset description",
        f"move {R}/primitive[@id='d1'] to position 4",
    ]
    body = (f'<change operation="create" path="{R}" position="2"><!--x--></change>'
            f'<change operation="delete" path="{R}/comment" position="2"/>')
    assert describe(patch_of(body)) == [f"create a comment in {R} at position 2",
                                        f"delete {R}/comment (position 2)"]


# ---- conformance with crm_diff (Pacemaker's own tool) -----------------------------------

needs_crm_diff = pytest.mark.skipif(shutil.which("crm_diff") is None,
                                    reason="crm_diff not installed (apt pacemaker-cli-utils)")


def _crm_diff(*args: str) -> tuple[int, bytes]:
    p = subprocess.run(["crm_diff", *args], capture_output=True, timeout=60)
    return p.returncode, p.stdout


def _conform(tmp_path: Path, old: etree._Element, new: etree._Element, *, cib: bool) -> None:
    a, b, theirs, ours = (tmp_path / n for n in ("a.xml", "b.xml", "theirs.xml", "ours.xml"))
    a.write_bytes(etree.tostring(old))
    b.write_bytes(etree.tostring(new))
    flags = ["--cib"] if cib else []
    rc, out = _crm_diff(*flags, "-o", str(a), "-n", str(b))
    assert rc in (0, 1), out
    if out.strip():
        patch = tree(out)
        assert patch.get("format") == "2"
        # crm_diff's patch, applied by us, gives what crm_diff's own apply gives.
        theirs.write_bytes(out)
        rc, applied = _crm_diff(*flags, "-o", str(a), "-p", str(theirs))
        try:
            got: str | None = canonical(apply(old, patch))
        except PatchError:
            got = None
        if rc != 0:                          # e.g. a digest mismatch: we refuse it too
            assert got is None
        elif canonical(tree(applied)) == canonical(new):
            assert got == canonical(new)
        else:                                # crm_diff's own patch misses (ambiguous paths):
            assert got in (None, canonical(tree(applied)))    # refused, or the same miss
    # Our patch, applied by crm_diff, gives new.
    ours.write_bytes(etree.tostring(diff(old, new)))
    rc, applied = _crm_diff(*flags, "-o", str(a), "-p", str(ours))
    assert rc == 0, f"crm_diff refused our patch: {ours.read_text()}"
    assert canonical(tree(applied)) == canonical(new)


@needs_crm_diff
@pytest.mark.parametrize("cib", [False, True], ids=["plain", "cib"])
def test_crm_diff_conformance_on_the_example(tmp_path: Path, cib: bool) -> None:
    new = tree(OLD.replace(b"<!-- keep -->", b"<!-- changed -->")
               .replace(b'type="Stateful" description="x"', b'type="Dummy"'))
    resources = new.find("configuration/resources")
    assert resources is not None
    resources.insert(0, resources[3])
    resources.insert(2, etree.Element("primitive", id="d0", type="Dummy"))
    new.find("configuration/constraints").clear()  # type: ignore[union-attr]
    set_version(new, (0, 6, 0))
    _conform(tmp_path, tree(), new, cib=cib)


@needs_crm_diff
@pytest.mark.skipif(not CORPUS.is_dir(), reason=f"no scheduler corpus at {CORPUS}")
@pytest.mark.parametrize("seed", range(8))
def test_crm_diff_conformance_on_corpus_pairs(tmp_path: Path, seed: int) -> None:
    files = sorted(CORPUS.glob("*.xml"))
    rng = random.Random(seed)
    for _ in range(5):
        pa, pb = rng.sample(files, 2)
        old, new = tree(pa.read_bytes()), tree(pb.read_bytes())
        for t in (old, new):                 # crm_diff writes format 2 above feature set 3.0.8
            t.set("crm_feature_set", "3.16.1")
        a, e, _ = version(old)
        set_version(new, (a, e + 1, 0))
        _conform(tmp_path, old, new, cib=seed % 2 == 1)
