"""ha.cib.versions: the version triple, how it moves, the tie-break, and the digests."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from lxml import etree

from ha.cib.versions import (
    bump,
    canonical,
    digest,
    document_digest,
    filtered_digest,
    newer,
    version,
    winner,
)

CIB = b"""<cib admin_epoch="1" epoch="5" num_updates="2" validate-with="pacemaker-3.9">
  <configuration>
    <crm_config/>
    <nodes><node id="1" uname="n1"/></nodes>
    <resources>
      <primitive id="d1" class="ocf" provider="pacemaker" type="Dummy"/>
      <!-- a comment -->
    </resources>
    <constraints/>
  </configuration>
  <status><node_state id="1" uname="n1" in_ccm="true"/></status>
</cib>"""

CORPUS = Path(__file__).resolve().parents[2] / ".." / "shared" / "pacemaker-scheduler" / "xml"


def cib(data: bytes = CIB) -> etree._Element:
    return etree.fromstring(data)


def test_version_reads_the_triple_in_pacemaker_order() -> None:
    assert version(cib()) == (1, 5, 2)


def test_missing_version_attributes_count_as_zero() -> None:
    assert version(etree.fromstring(b'<cib epoch="3"/>')) == (0, 3, 0)


@pytest.mark.parametrize("value", ["x", "-1", "1.5", "", " 2"])
def test_a_non_integer_version_is_refused_naming_the_attribute(value: str) -> None:
    root = etree.fromstring(b"<cib/>")
    root.set("num_updates", value)
    with pytest.raises(ValueError, match="num_updates"):
        version(root)


def test_a_configuration_change_bumps_epoch_and_resets_num_updates() -> None:
    root = cib()
    bump(root, configuration=True)
    assert version(root) == (1, 6, 0)
    assert root.get("epoch") == "6" and root.get("num_updates") == "0"


def test_a_status_change_bumps_num_updates_only() -> None:
    root = cib()
    bump(root, configuration=False)
    assert version(root) == (1, 5, 3)


def test_bump_never_touches_admin_epoch() -> None:
    root = etree.fromstring(b"<cib/>")
    bump(root, configuration=True)
    bump(root, configuration=False)
    assert version(root) == (0, 1, 1)
    assert root.get("admin_epoch") == "0"


def test_newer_compares_admin_epoch_then_epoch_then_num_updates() -> None:
    assert newer((1, 0, 0), (0, 99, 99))
    assert newer((0, 2, 0), (0, 1, 99))
    assert newer((0, 1, 2), (0, 1, 1))
    assert not newer((0, 1, 1), (0, 1, 1))
    assert not newer((0, 1, 1), (0, 1, 2))


def test_winner_is_the_highest_version() -> None:
    assert winner([(1, (0, 5, 0), "a"), (2, (0, 6, 0), "b"), (3, (0, 5, 9), "c")]) == 2


def test_winner_on_a_tie_is_the_lowest_node_id_among_the_tied() -> None:
    candidates = [(7, (0, 6, 1), "x"), (3, (0, 6, 1), "y"), (1, (0, 6, 0), "z")]
    assert winner(candidates) == 3
    assert winner(list(reversed(candidates))) == 3        # same on every replica


def test_winner_needs_a_candidate() -> None:
    with pytest.raises(ValueError):
        winner([])


def test_digest_is_md5_hex_of_the_configuration() -> None:
    d = digest(cib())
    assert len(d) == 32 and int(d, 16) >= 0


def test_digest_is_stable_across_parse_and_serialise() -> None:
    root = cib()
    again = etree.fromstring(etree.tostring(root, pretty_print=True))
    assert digest(again) == digest(root)
    assert document_digest(again) == document_digest(root)


def test_digest_ignores_attribute_order_and_whitespace() -> None:
    other = cib(CIB.replace(b'class="ocf" provider="pacemaker"', b'provider="pacemaker"  class="ocf"')
                .replace(b"\n    ", b""))
    assert digest(other) == digest(cib())


def test_digest_covers_the_configuration_not_the_status() -> None:
    root = cib()
    before = digest(root)
    root.find("status/node_state").set("in_ccm", "false")    # type: ignore[union-attr]
    assert digest(root) == before
    root.find("configuration/resources/primitive").set("type", "Stateful")  # type: ignore[union-attr]
    assert digest(root) != before


def test_digest_without_a_configuration_is_that_of_nothing() -> None:
    assert digest(etree.fromstring(b"<cib/>")) == "d41d8cd98f00b204e9800998ecf8427e"


def test_canonical_form_sorts_attributes_and_drops_text() -> None:
    root = etree.fromstring(b'<a z="1" b="&lt;&quot;">\n  <c/><!--x-->\n</a>')
    assert canonical(root) == '<a b="&lt;&quot;" z="1"><c/><!--x--></a>'


def test_document_digest_is_pacemakers_on_disk_form() -> None:
    # MD5 of " " + compact XML in document order + "\n": what cib.xml.sig holds.
    import hashlib
    root = etree.fromstring(b'<cib epoch="1" admin_epoch="0">\n <configuration/>\n</cib>')
    expected = hashlib.md5(b' <cib epoch="1" admin_epoch="0"><configuration/></cib>\n').hexdigest()
    assert document_digest(root) == expected


def test_filtered_digest_leaves_out_bookkeeping_attributes() -> None:
    a = etree.fromstring(b'<cib epoch="1"><configuration/></cib>')
    b = etree.fromstring(b'<cib epoch="1" cib-last-written="now" update-origin="n1"'
                         b' update-client="cibadmin" update-user="root"><configuration/></cib>')
    assert filtered_digest(a) == filtered_digest(b)
    assert document_digest(a) != document_digest(b)


def test_escaping_follows_pacemaker_for_control_characters() -> None:
    root = etree.fromstring(b'<cib d="a&#10;b&amp;&gt;"/>')
    import hashlib
    assert document_digest(root) == hashlib.md5(
        b' <cib d="a&#x0A;b&amp;&gt;"/>\n').hexdigest()


@pytest.mark.skipif(shutil.which("cibadmin") is None,
                    reason="cibadmin not installed (apt pacemaker-cli-utils)")
@pytest.mark.skipif(not CORPUS.is_dir(), reason=f"no scheduler corpus at {CORPUS}")
def test_document_digest_matches_cibadmin_md5_sum_on_the_corpus() -> None:
    files = sorted(CORPUS.glob("*.xml"))[::40]
    for path in files:
        theirs = subprocess.run(["cibadmin", "--md5-sum", "-x", str(path)], capture_output=True,
                                text=True, check=True).stdout.strip()
        assert document_digest(etree.parse(str(path)).getroot()) == theirs, path
