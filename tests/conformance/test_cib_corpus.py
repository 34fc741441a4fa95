"""Every CIB in Pacemaker's scheduler regression corpus loads as it is (DESIGN.md rule 5).

For each ``../shared/pacemaker-scheduler/xml/*.xml``: ``parse`` accepts it,
``parse(serialise(root))`` is the same tree and serialising again gives the same bytes,
and ``verify`` returns issues (many corpus inputs are deliberately odd) without raising.
Skipped, with the reason, where the corpus is absent.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from ha.cib.validate import verify
from ha.cib.xml import parse, same_tree, serialise

CORPUS = Path(__file__).parents[2].parent / "shared" / "pacemaker-scheduler" / "xml"
FILES = sorted(CORPUS.glob("*.xml")) if CORPUS.is_dir() else []

pytestmark = pytest.mark.skipif(not FILES, reason=f"Pacemaker scheduler corpus not found at "
                                                  f"{CORPUS}")


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.stem)
def test_corpus_cib_loads_round_trips_and_verifies(path: Path) -> None:
    root = parse(path.read_bytes(), path.name)
    once = serialise(root)
    again = parse(once, f"{path.name} (serialised)")
    assert same_tree(root, again), f"{path.name}: parse → serialise → parse changed the tree"
    assert serialise(again) == once, f"{path.name}: serialising is not byte-stable"
    for issue in verify(root):
        assert issue.severity in ("error", "warning")
        assert issue.check and issue.element and issue.path.startswith("/cib")
        assert str(issue).startswith(f"{issue.severity}: {issue.element}")


def test_the_whole_corpus_is_there() -> None:
    assert len(FILES) >= 700, f"expected Pacemaker's ~800 scheduler inputs, found {len(FILES)}"
