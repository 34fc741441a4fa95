"""Property: a v2 patchset reproduces its target — ``apply(old, diff(old, new)) == new``.

Invariants (named after what a replica relies on):

- ``patch_reproduces_target``: for random edits of random CIB trees (attributes set and
  removed, elements added, removed and reordered, comments, duplicate and id-less
  siblings, in configuration and status), applying the diff gives the new tree
  (canonical comparison: attribute order and whitespace do not count);
- ``apply_never_changes_its_input``: the old tree is the same afterwards;
- ``patch_carries_versions``: the result is at the target version;
- ``digests_survive_serialisation``: serialise and parse change no digest (and the
  configuration digest, blind to attribute order, is the target's);
- the same over pairs of real CIBs from Pacemaker's scheduler corpus (given equal
  versions first), same-family pairs and random pairs.

Hypothesis prints the failing example; replay it with ``pytest -k <test>
--hypothesis-seed=<seed>`` as Hypothesis reports it.
"""

from __future__ import annotations

import copy
import re
from collections import defaultdict
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree

from ha.cib.patch import apply, diff
from ha.cib.versions import bump, canonical, digest, document_digest, set_version, version
from ha.cib.xml import parse, serialise

TAGS = ["primitive", "op", "nvpair", "instance_attributes", "rule", "expression",
        "node_state", "lrm_rsc_op"]
IDS = ["a", "b", "c", "d1", "d2", "x:y", "n-1", "it's", "a/b"]    # the last two: no path
NAMES = ["type", "value", "name", "score", "interval", "description"]
VALUES = ["0", "1", "Dummy", "INFINITY", "a b", "<&>\"'", "é"]
SECTIONS = ["crm_config", "nodes", "resources", "constraints"]

CORPUS = Path(__file__).resolve().parents[2] / ".." / "shared" / "pacemaker-scheduler" / "xml"


@st.composite
def subtrees(draw: st.DrawFn, depth: int = 2) -> etree._Element:
    if draw(st.integers(0, 9)) == 0:
        return etree.Comment(draw(st.sampled_from(["note", "x", "again"])))
    element = etree.Element(draw(st.sampled_from(TAGS)))
    node_id = draw(st.none() | st.sampled_from(IDS))
    if node_id is not None:
        element.set("id", node_id)
    for name, value in draw(st.dictionaries(st.sampled_from(NAMES), st.sampled_from(VALUES),
                                            max_size=3)).items():
        element.set(name, value)
    if depth > 0:
        element.extend(draw(st.lists(subtrees(depth - 1), max_size=3)))
    return element


@st.composite
def cibs(draw: st.DrawFn) -> etree._Element:
    root = etree.Element("cib", admin_epoch="0", epoch=str(draw(st.integers(0, 9))),
                         num_updates=str(draw(st.integers(0, 9))))
    configuration = etree.SubElement(root, "configuration")
    for name in SECTIONS:
        etree.SubElement(configuration, name).extend(draw(st.lists(subtrees(), max_size=3)))
    etree.SubElement(root, "status").extend(draw(st.lists(subtrees(), max_size=3)))
    return root


EDITS = ["set", "unset", "add", "remove", "move", "reverse"]


def _edit(root: etree._Element, kind: str, at: int, n: int, extra: etree._Element) -> bool:
    """Apply one edit to the element at index ``at`` (document order, root excluded
    where the edit would make the root's own children ambiguous). Returns whether the
    edit touched the configuration section."""
    nodes = [e for e in root.iter() if e is not root]
    if not nodes:
        return False
    node = nodes[at % len(nodes)]
    parent = node.getparent()
    assert parent is not None
    is_comment = isinstance(node, etree._Comment)
    if kind == "set" and not is_comment:
        node.set(NAMES[n % len(NAMES)], VALUES[n % len(VALUES)])
    elif kind == "unset" and not is_comment and len(node.attrib):
        del node.attrib[sorted(node.attrib)[n % len(node.attrib)]]
    elif kind == "add" and not is_comment:
        node.insert(n % (len(node) + 1), extra)
    elif kind == "remove" and parent is not root:
        parent.remove(node)
    elif kind == "move" and parent is not root:
        parent.insert(n % len(parent), node)
    elif kind == "reverse" and not is_comment:
        node[:] = list(reversed(list(node)))
    return any(a.tag == "configuration" for a in node.iterancestors()) or node.tag == "configuration"


edits = st.lists(st.tuples(st.sampled_from(EDITS), st.integers(0, 200), st.integers(0, 50),
                           subtrees(1)), max_size=8)


def _check(old: etree._Element, new: etree._Element) -> None:
    before = etree.tostring(old)
    result = apply(old, diff(old, new))
    assert canonical(result) == canonical(new), "patch_reproduces_target"
    assert etree.tostring(old) == before, "apply_never_changes_its_input"
    assert version(result) == version(new), "patch_carries_versions"
    again = parse(serialise(result))
    assert digest(again) == digest(result) == digest(new), "digests_survive_serialisation"
    assert document_digest(again) == document_digest(result), "digests_survive_serialisation"


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cibs(), edits)
def test_patch_reproduces_target_after_random_edits(old: etree._Element,
                                                   steps: list[tuple[str, int, int, etree._Element]]
                                                   ) -> None:
    new = copy.deepcopy(old)
    configuration = False
    for kind, at, n, extra in steps:
        configuration |= _edit(new, kind, at, n, copy.deepcopy(extra))
    if steps:
        bump(new, configuration=configuration)
    _check(old, new)


def _corpus() -> list[Path]:
    return sorted(CORPUS.glob("*.xml")) if CORPUS.is_dir() else []


def _families(files: list[Path]) -> list[list[Path]]:
    groups: dict[str, list[Path]] = defaultdict(list)
    for path in files:
        groups[re.sub(r"[-_]?\d+$", "", path.stem)].append(path)
    return [g for g in groups.values() if len(g) > 1]


def _load(path: Path) -> etree._Element:
    return etree.parse(str(path)).getroot()


needs_corpus = pytest.mark.skipif(not _corpus(), reason=f"no scheduler corpus at {CORPUS}")
FILES = _corpus()
FAMILIES = _families(FILES)


@needs_corpus
@settings(max_examples=40, deadline=None)
@given(st.data())
def test_patch_reproduces_target_between_corpus_cibs_of_one_family(data: st.DataObject) -> None:
    family = data.draw(st.sampled_from(FAMILIES), label="family")
    a, b = data.draw(st.permutations(family), label="pair")[:2]
    old, new = _load(a), _load(b)
    set_version(new, version(old))
    _check(old, new)


@needs_corpus
@settings(max_examples=40, deadline=None)
@given(st.sampled_from(FILES), st.sampled_from(FILES))
def test_patch_reproduces_target_between_random_corpus_cibs(a: Path, b: Path) -> None:
    old, new = _load(a), _load(b)
    set_version(new, version(old))
    _check(old, new)
