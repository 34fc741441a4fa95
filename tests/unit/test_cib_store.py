"""ha.cib.store: the CIB on disk (cib.xml + cib.xml.sig, backups, refusal, recovery)."""

from __future__ import annotations

import errno
import hashlib
import os
import shutil
import stat
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

import ha.cib.store as store_module
from ha.cib.store import CibStore, CorruptCib

T0 = datetime(2026, 11, 25, 11, 31, 30, tzinfo=UTC)

# Written by Pacemaker 2.1.5 itself (cibadmin on the live /var/lib/pacemaker/cib/cib.xml):
# its .sig holds Pacemaker's own digest of the XML, not the MD5 of these bytes.
PACEMAKER_CIB = (
    b'<cib crm_feature_set="3.16.1" validate-with="pacemaker-3.9" epoch="8" num_updates="0" '
    b'admin_epoch="0" cib-last-written="Wed Nov 25 11:31:30 2026">\n  <configuration>\n'
    b'    <crm_config/>\n    <nodes/>\n    <resources>\n'
    b'      <primitive id="d1" class="ocf" provider="pacemaker" type="Dummy">\n'
    b'        <instance_attributes id="d1-ia">\n'
    b'          <nvpair id="d1-ia-x" name="x" value="a&amp;b &lt; &quot;q&quot; \\nnl"/>\n'
    b'        </instance_attributes>\n      </primitive>\n    </resources>\n'
    b'    <constraints/>\n  </configuration>\n</cib>\n')
PACEMAKER_SIG = b"b3a115ed034d9233702dfc3f905d1458"


def cib(epoch: int, filler: int = 3) -> bytes:
    resources = "".join(f'<primitive id="r{n}" class="ocf" provider="heartbeat" type="Dummy"/>'
                        for n in range(filler))
    return (f'<cib epoch="{epoch}" num_updates="0" admin_epoch="0"><configuration>'
            f'<resources>{resources}</resources></configuration></cib>').encode()


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


@pytest.fixture
def directory(tmp_path: Path) -> Path:
    return tmp_path / "cib"


def make_store(directory: Path, backups: int = 10) -> CibStore:
    return CibStore(directory, backups, fsync=False, clock=lambda: T0)


# -- saving and loading ---------------------------------------------------------------


def test_fresh_directory_has_no_cib(directory: Path) -> None:
    assert make_store(directory).load() is None
    assert not directory.exists(), "load() must not create the directory"
    directory.mkdir()
    assert make_store(directory).load() is None


def test_save_then_load_gives_the_same_bytes(directory: Path) -> None:
    make_store(directory).save(cib(1))
    assert CibStore(directory).load() == cib(1)
    assert (directory / "cib.xml").read_bytes() == cib(1)
    assert (directory / "cib.xml.sig").read_bytes() == md5(cib(1)).encode()  # no newline


def test_permissions(directory: Path) -> None:
    old_umask = os.umask(0)
    try:
        store = CibStore(directory, 2)
        for epoch in range(1, 4):
            store.save(cib(epoch))
    finally:
        os.umask(old_umask)
    assert stat.S_IMODE(directory.stat().st_mode) == 0o750
    for path in directory.iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path.name


def test_save_refuses_malformed_xml_and_keeps_the_cib(directory: Path) -> None:
    store = make_store(directory)
    store.save(cib(1))
    with pytest.raises(ValueError, match="not well-formed XML: Premature end of data"):
        store.save(b'<cib epoch="2"><configuration>')
    assert store.load() == cib(1)
    assert store.backups() == []


# -- refusing a bad cib.xml ------------------------------------------------------------


def refused(directory: Path) -> CorruptCib:
    with pytest.raises(CorruptCib) as info:
        make_store(directory).load()
    return info.value


def test_digest_mismatch_is_refused_and_moved_aside(directory: Path) -> None:
    make_store(directory).save(cib(1))
    (directory / "cib.xml").write_bytes(cib(2))
    err = refused(directory)
    assert err.reason == (f"cib.xml: digest mismatch: cib.xml.sig says {md5(cib(1))}, "
                          f"content hashes to {md5(cib(2))}")
    assert str(err) == (f"{err.reason}; moved aside to cib.xml.corrupt-20261125T113130Z, "
                        f"cib.xml.corrupt-20261125T113130Z.sig")
    assert err.file == directory / "cib.xml"
    assert sorted(p.name for p in directory.iterdir()) == [
        "cib.xml.corrupt-20261125T113130Z", "cib.xml.corrupt-20261125T113130Z.sig"]
    assert err.moved_to[0].read_bytes() == cib(2), "refused files are kept, never deleted"
    assert err.moved_to[1].read_bytes() == md5(cib(1)).encode()
    assert make_store(directory).load() is None, "after the refusal the node has no CIB"


def test_after_a_refusal_the_cluster_copy_is_saved_and_the_refused_files_stay(
        directory: Path) -> None:
    store = make_store(directory)
    store.save(cib(1))
    (directory / "cib.xml").write_bytes(b"<cib")
    with pytest.raises(CorruptCib):
        store.load()
    store.save(cib(7))  # the copy the node received from the cluster
    assert make_store(directory).load() == cib(7)
    assert (directory / "cib.xml.corrupt-20261125T113130Z").read_bytes() == b"<cib"


def test_a_second_refusal_in_the_same_second_gets_its_own_name(directory: Path) -> None:
    for epoch in (1, 2):
        make_store(directory).save(cib(epoch))
        (directory / "cib.xml").write_bytes(b"<cib/>")
        refused(directory)
    assert sorted(p.name for p in directory.glob("cib.xml.corrupt-*")) == [
        "cib.xml.corrupt-20261125T113130Z", "cib.xml.corrupt-20261125T113130Z-1",
        "cib.xml.corrupt-20261125T113130Z-1.sig", "cib.xml.corrupt-20261125T113130Z.sig"]


def test_truncated_file_is_refused(directory: Path) -> None:
    make_store(directory).save(cib(1))
    (directory / "cib.xml").write_bytes(cib(1)[:40])
    assert refused(directory).reason == (
        f"cib.xml: digest mismatch: cib.xml.sig says {md5(cib(1))}, "
        f"content hashes to {md5(cib(1)[:40])}")


def test_non_xml_is_refused_even_with_a_matching_digest(directory: Path) -> None:
    directory.mkdir()
    (directory / "cib.xml").write_bytes(b"epoch=1\n")
    (directory / "cib.xml.sig").write_text(md5(b"epoch=1\n"))
    assert refused(directory).reason == (
        "cib.xml: not well-formed XML: Start tag expected, '<' not found, line 1, column 1")


def test_missing_signature_is_refused(directory: Path) -> None:
    make_store(directory).save(cib(1))
    (directory / "cib.xml.sig").unlink()
    err = refused(directory)
    assert err.reason == "cib.xml: no signature: cib.xml.sig is missing"
    assert [p.name for p in err.moved_to] == ["cib.xml.corrupt-20261125T113130Z"]


def test_signature_without_cib_is_refused(directory: Path) -> None:
    make_store(directory).save(cib(1))
    (directory / "cib.xml").unlink()
    assert refused(directory).reason == "cib.xml: missing, but cib.xml.sig exists"


def test_garbage_signature_is_refused(directory: Path) -> None:
    make_store(directory).save(cib(1))
    (directory / "cib.xml.sig").write_text("edited by hand\n")
    assert refused(directory).reason == (
        "cib.xml: bad signature: cib.xml.sig holds 'edited by hand', not an MD5 digest")


def test_a_cib_written_by_pacemaker_loads_as_it_is(directory: Path) -> None:
    directory.mkdir()
    (directory / "cib.xml").write_bytes(PACEMAKER_CIB)
    (directory / "cib.xml.sig").write_bytes(PACEMAKER_SIG)
    assert make_store(directory).load() == PACEMAKER_CIB
    (directory / "cib.xml").write_bytes(PACEMAKER_CIB.replace(b'epoch="8"', b'epoch="9"'))
    assert "digest mismatch" in refused(directory).reason


# -- backups ---------------------------------------------------------------------------


def test_backups_keep_the_last_n_previous_versions(directory: Path) -> None:
    store = make_store(directory, backups=3)
    assert store.last_generation() == 0
    for epoch in range(1, 8):
        store.save(cib(epoch))
    # Saves 2..7 each archived the version before them as cib-0 .. cib-5.
    assert [p.name for p in store.backups()] == ["cib-3.raw", "cib-4.raw", "cib-5.raw"]
    assert [p.read_bytes() for p in store.backups()] == [cib(4), cib(5), cib(6)]
    for raw in store.backups():
        assert (directory / f"{raw.name}.sig").read_text() == md5(raw.read_bytes())
    assert store.last_generation() == 6
    assert (directory / "cib.last").read_text() == "6"
    assert sorted(p.name for p in directory.iterdir()) == [
        "cib-3.raw", "cib-3.raw.sig", "cib-4.raw", "cib-4.raw.sig", "cib-5.raw",
        "cib-5.raw.sig", "cib.last", "cib.xml", "cib.xml.sig"]


def test_backups_are_copies_where_hard_links_are_refused(
        directory: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    refused: list[object] = []

    def no_links(source: object, target: object) -> None:
        refused.append(target)
        raise OSError(errno.EPERM, "Operation not permitted")

    store = make_store(directory)
    store.save(cib(1))
    monkeypatch.setattr(os, "link", no_links)
    store.save(cib(2))
    raw = directory / "cib-0.raw"
    assert raw.read_bytes() == cib(1)
    assert (directory / "cib-0.raw.sig").read_text() == md5(cib(1))
    assert len(refused) == 2, "both the CIB and its signature were offered a hard link"


def test_no_backups_when_asked_for_none(directory: Path) -> None:
    store = make_store(directory, backups=0)
    for epoch in range(1, 4):
        store.save(cib(epoch))
    assert store.backups() == []
    assert sorted(p.name for p in directory.iterdir()) == ["cib.xml", "cib.xml.sig"]


@pytest.mark.parametrize("counter", [None, b"", b"garbage", b"2"])
def test_backup_numbers_continue_when_cib_last_is_lost_or_behind(
        directory: Path, counter: bytes | None) -> None:
    store = make_store(directory)
    for epoch in range(1, 6):
        store.save(cib(epoch))  # backups 0..3, cib.last = 4
    if counter is None:
        (directory / "cib.last").unlink()
    else:
        (directory / "cib.last").write_bytes(counter)
    store.save(cib(6))
    assert store.backups()[-1].name == "cib-4.raw"
    assert store.backups()[-1].read_bytes() == cib(5)


def test_load_or_recover_falls_back_to_the_newest_valid_backup(directory: Path) -> None:
    store = make_store(directory)
    for epoch in range(1, 5):
        store.save(cib(epoch))
    (directory / "cib.xml").write_bytes(b"<cib")
    (directory / "cib-2.raw").write_bytes(cib(99))  # the newest backup is bad too
    data, used = store.load_or_recover()
    assert (data, used) == (cib(2), "cib-1.raw")
    assert store.problems == [
        f"cib.xml: digest mismatch: cib.xml.sig says {md5(cib(4))}, content hashes to "
        f"{md5(b'<cib')}; moved aside to cib.xml.corrupt-20261125T113130Z, "
        f"cib.xml.corrupt-20261125T113130Z.sig",
        f"cib-2.raw: digest mismatch: cib-2.raw.sig says {md5(cib(3))}, content hashes to "
        f"{md5(cib(99))}"]
    assert store.load_or_recover() == (cib(2), "cib-1.raw"), "the same after a restart"
    store.save(cib(5))
    assert store.load_or_recover() == (cib(5), "cib.xml")
    assert store.problems == []


def test_load_or_recover_with_nothing_valid_says_why(directory: Path) -> None:
    store = make_store(directory, backups=0)
    store.save(cib(1))
    (directory / "cib.xml.sig").unlink()
    assert store.load_or_recover() == (None, None)
    assert store.problems == ["cib.xml: no signature: cib.xml.sig is missing; moved aside "
                              "to cib.xml.corrupt-20261125T113130Z"]


def test_load_or_recover_on_a_fresh_directory(directory: Path) -> None:
    assert make_store(directory).load_or_recover() == (None, None)


# -- crashes ---------------------------------------------------------------------------

MUTATING = {"open", "write", "fsync", "close", "replace", "rename", "link", "unlink",
            "mkdir", "chmod", "fchmod"}


class OsWithHook:
    """Stands in for ``os`` inside ha.cib.store: runs a hook before each call that can
    change the disk. A ``write`` is torn: it writes half its bytes, then the hook runs
    again on that torn state (the store writes the rest in later calls)."""

    def __init__(self, hook: Callable[[str], None]) -> None:
        self._hook = hook

    def __getattr__(self, name: str) -> Any:
        real = getattr(os, name)
        if name not in MUTATING:
            return real

        def call(*args: Any, **kwargs: Any) -> Any:
            self._hook(name)
            if name == "write" and len(args[1]) > 1:
                written = os.write(args[0], args[1][:len(args[1]) // 2])
                self._hook("torn write")
                return written
            return real(*args, **kwargs)
        return call


def prepared(directory: Path, saves: int) -> CibStore:
    """A store with ``saves`` CIBs behind it (so a save archives and prunes)."""
    store = make_store(directory, backups=2)
    for epoch in range(1, saves + 1):
        store.save(cib(epoch, filler=epoch))
    return store


def between_the_renames(directory: Path) -> bool:
    """cib.xml.sig is the new signature while cib.xml.new still waits for its rename."""
    sig, new = directory / "cib.xml.sig", directory / "cib.xml.new"
    return (new.exists() and sig.exists() and not (directory / "cib.xml.sig.new").exists()
            and sig.read_text() == md5(new.read_bytes()))


@pytest.mark.parametrize("history", [0, 1, 4], ids=["first save", "second", "steady state"])
def test_a_crash_before_any_disk_call_of_save_leaves_old_or_new(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, history: int) -> None:
    directory = tmp_path / "cib"
    store = prepared(directory, history)
    old, new = (cib(history, filler=history) if history else None), cib(100, filler=50)
    snapshots: list[tuple[str, Path]] = []

    def snapshot(call: str) -> None:
        target = tmp_path / f"crash-{len(snapshots):03d}"
        if directory.exists():
            shutil.copytree(directory, target)
        snapshots.append((call, target))

    monkeypatch.setattr(store_module, "os", OsWithHook(snapshot))
    store.save(new)
    monkeypatch.undo()
    assert len(snapshots) > 20
    outcomes, completed = [], 0
    for call, target in snapshots:
        completed += between_the_renames(target)
        assert len(list(target.glob("cib-*.raw"))) <= 2, f"more backups than kept: {call}"
        data = make_store(target).load()
        assert data in (old, new), f"crash before {call} ({target.name}) loads {data!r}"
        assert make_store(target).load() == data, "a second load must agree"
        assert not any(p.name.endswith(".new") for p in target.glob("*")), target.name
        outcomes.append("new" if data == new and data != old else "old")
    # The switch happens once, at the commit, and never goes back.
    assert outcomes == sorted(outcomes, key=("old", "new").index), outcomes
    assert "new" in outcomes and "old" in outcomes
    assert completed >= 1, "no crash point between the renames: load's completion untested"


@pytest.mark.parametrize("history", [0, 4], ids=["first save", "steady state"])
def test_a_failed_disk_call_leaves_old_or_new_and_the_store_usable(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, history: int) -> None:
    calls: list[str] = []
    counted = prepared(tmp_path / "count", history)
    monkeypatch.setattr(store_module, "os", OsWithHook(calls.append))
    counted.save(cib(100))
    monkeypatch.undo()
    assert len(calls) > 20
    old = cib(history, filler=history) if history else None
    for step, victim in enumerate(calls):
        directory = tmp_path / f"fail-{step:03d}"
        store = prepared(directory, history)
        seen: list[str] = []

        def fail(call: str, step: int = step, seen: list[str] = seen) -> None:
            seen.append(call)
            if len(seen) == step + 1 and call != "close":  # a close runs in a finally
                raise OSError(errno.EIO, f"injected at {call}")

        monkeypatch.setattr(store_module, "os", OsWithHook(fail))
        try:
            store.save(cib(100))
            failed = False
        except OSError:
            failed = True
        monkeypatch.undo()
        assert failed == (victim != "close"), f"step {step} ({victim})"
        assert make_store(directory).load() in (old, cib(100)), f"failure at {step} ({victim})"
        store.save(cib(101))
        assert make_store(directory).load() == cib(101), f"unusable after {step} ({victim})"


@pytest.mark.parametrize("renamed", ["cib.xml.sig", "cib.xml"])
def test_a_save_cut_between_its_renames_is_completed_on_load(
        directory: Path, renamed: str) -> None:
    # Rename 4 (signature) alone is what a crash leaves; rename 5 (content) alone is
    # what a disk that reordered them across a power cut could leave.
    store = prepared(directory, 2)
    new = cib(100)
    (directory / "cib.xml.new").write_bytes(new)
    (directory / "cib.xml.sig.new").write_text(md5(new))
    os.replace(directory / f"{renamed}.new", directory / renamed)
    assert store.load() == new
    assert (directory / "cib.xml.sig").read_text() == md5(new)
    assert not list(directory.glob("*.new"))


def test_leftover_temp_files_are_removed_on_load(directory: Path) -> None:
    store = prepared(directory, 2)
    for name in ("cib.xml.new", "cib.xml.sig.new", "cib.last.new"):
        (directory / name).write_bytes(b"<cib epoch=")
    assert store.load() == cib(2, filler=2)
    assert not list(directory.glob("*.new"))
