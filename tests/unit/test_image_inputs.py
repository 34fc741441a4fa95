"""The node image's inputs digest: it changes exactly when a file that goes into the image
changes (no Docker needed)."""

from __future__ import annotations

import shutil
from pathlib import Path

from harness.image import ROOT, base_inputs_digest, input_files, inputs_digest


def _copy_inputs(dst: Path) -> None:
    for p in input_files(ROOT):
        target = dst / p.relative_to(ROOT)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(p, target)


def test_inputs_cover_the_containers_the_project_and_every_source_file() -> None:
    rel = {p.relative_to(ROOT).as_posix() for p in input_files(ROOT)}
    assert {"containers/Dockerfile", "containers/build-base.sh", "containers/packages.txt",
            "pyproject.toml", "ha/cli/main.py", "harness/image.py"} <= rel
    assert not [r for r in rel if "__pycache__" in r]


def test_digest_changes_when_a_source_file_changes(tmp_path: Path) -> None:
    _copy_inputs(tmp_path)
    before = inputs_digest(tmp_path)
    assert inputs_digest(tmp_path) == before                      # deterministic
    (tmp_path / "README.md").write_text("not an input\n")
    assert inputs_digest(tmp_path) == before
    src = tmp_path / "ha" / "cli" / "main.py"
    src.write_text(src.read_text() + "# changed\n")
    assert inputs_digest(tmp_path) != before


def test_digest_changes_with_a_new_module_the_base_or_the_package_list(tmp_path: Path) -> None:
    _copy_inputs(tmp_path)
    before, base_before = inputs_digest(tmp_path), base_inputs_digest(tmp_path)
    assert inputs_digest(tmp_path, base="debian:bookworm-slim") != before
    (tmp_path / "harness" / "new_module.py").write_text("X = 1\n")
    after_module = inputs_digest(tmp_path)
    assert after_module != before
    assert base_inputs_digest(tmp_path) == base_before            # the base is not affected
    with open(tmp_path / "containers" / "packages.txt", "a") as fh:
        fh.write("strace\n")
    assert base_inputs_digest(tmp_path) != base_before
    assert inputs_digest(tmp_path) != after_module
