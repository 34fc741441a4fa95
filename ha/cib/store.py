"""The CIB on disk: ``cib.xml`` and its digest ``cib.xml.sig``, crash-safe, with backups.

The layout is Pacemaker's (``/var/lib/pacemaker/cib``), so an administrator finds what
they expect:

=====================  ================================================================
``cib.xml``            the current CIB, byte for byte as the replica serialised it
``cib.xml.sig``        the MD5 hex digest of ``cib.xml`` (32 characters, no newline)
``cib-N.raw`` (.sig)   the pair ``cib.xml`` held before the N-th replacement (hard links)
``cib.last``           Pacemaker's series counter: the number the next backup takes
``*.new``              temp files of a save in progress (``cib.xml.new``, ...)
``cib.xml.corrupt-T``  a refused ``cib.xml`` (and ``.sig``), moved aside at UTC time T
=====================  ================================================================

Digest: ``md5(bytes of cib.xml)``. ``load`` also accepts the digest Pacemaker itself
writes (MD5 of " " + the unformatted XML + "\\n", its "v1" on-disk digest, checked
against a cib.xml written by Pacemaker 2.1.5), so a Pacemaker node's CIB loads as it is.
Backup numbers never wrap here (Pacemaker wraps at 100); the newest has the highest N.

Write protocol (``save``). The commit point is step 4, one atomic rename:

1. delete the temp files a failed save may have left;
2. write ``cib.xml.new``, fsync; write ``cib.xml.sig.new``, fsync;
3. archive the current pair: delete the oldest backups so that at most ``backups``
   remain with the new one, hard-link the pair to ``cib-N.raw`` + ``cib-N.raw.sig``,
   set ``cib.last`` to N+1 (temp file + rename);
4. rename ``cib.xml.sig.new`` over ``cib.xml.sig``  (commit);
5. rename ``cib.xml.new`` over ``cib.xml``;
6. fsync the directory, then return: the update is acknowledged.

Load rules (``load``), in order:

1. ``cib.xml`` verifies against ``cib.xml.sig``: that is the CIB; any temp file is the
   debris of a save that never committed and is deleted;
2. otherwise, if the pieces of an interrupted save make a verified pair -- (``cib.xml.new``,
   ``cib.xml.sig``), (``cib.xml``, ``cib.xml.sig.new``) or both temps -- the save is
   completed (signature renamed first, then the content, directory fsynced): the new CIB;
3. neither ``cib.xml`` nor ``cib.xml.sig`` exists: no CIB yet, ``None``;
4. otherwise the files are refused: moved aside (never deleted), then ``CorruptCib``.

Why a crash at any moment leaves the old or the new CIB: renames within one directory
are atomic, so the states on disk are exactly those between the steps. Before step 4
the current pair is untouched (rule 1 gives the old CIB; on the very first save there
is none, and rule 2 or 3 gives the new CIB or nothing). Between 4 and 5 ``cib.xml`` (old)
no longer matches ``cib.xml.sig`` (new) and ``cib.xml.new`` completes the new pair
(rule 2). After 5 the new pair verifies. A crash while rule 2 completes a save leaves
one of these same states. Rule 2 also covers a disk that persisted rename 5 before
rename 4 after a power cut: (``cib.xml``, ``cib.xml.sig.new``) is then the pair.

Process death versus power loss: a process killed with SIGKILL loses nothing the kernel
already has (the page cache), so the kill test (tests/integration/test_cib_store_kill.py)
proves the crash-consistency of this protocol against process death. Durability against
power loss rests on the fsyncs: file contents before the renames that publish them, and
the directory before the acknowledgement. ``fsync=False`` keeps the protocol (still safe
against process death) without that durability, for benchmarks and throwaway stores.

One writer per directory (the node daemon); nothing here locks against a second one.
This module is I/O by contract (the CIB's persistence); the wall clock it needs to
name a corrupt file comes in as ``clock`` (sans-IO rule 1: no ``time`` import).
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import re
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from lxml import etree

from ha.cib.versions import document_digest

__all__ = ["CibStore", "CorruptCib", "md5_hex", "pacemaker_digest", "why_refused"]

CIB = "cib.xml"
SIG = "cib.xml.sig"
COUNTER = "cib.last"
NEW_CIB = CIB + ".new"
NEW_SIG = SIG + ".new"
NEW_COUNTER = COUNTER + ".new"
TEMPS = (NEW_CIB, NEW_SIG, NEW_COUNTER)
FILE_MODE = 0o600
DIR_MODE = 0o750

# link() errors that mean "this file system has no (more) hard links": copy instead.
_NO_HARD_LINKS = {errno.EPERM, errno.EOPNOTSUPP, errno.EXDEV, errno.EMLINK}
_BACKUP_NAME = re.compile(r"cib-(\d+)\.raw(?:\.sig)?")
_HEX_DIGEST = re.compile(r"[0-9a-f]{32}")
# A check, not a reader: no entities, no DTD, no network; blank text dropped, as
# Pacemaker's parser does before it computes its digest.
_PARSER = etree.XMLParser(remove_blank_text=True, resolve_entities=False,
                          no_network=True, load_dtd=False)


class CorruptCib(Exception):
    """A CIB file on disk was refused: ``reason`` names the file and what was wrong.

    ``moved_to`` lists where the refused files now are (next to ``cib.xml``).
    """

    def __init__(self, file: Path, reason: str, moved_to: list[Path]) -> None:
        self.file = file
        self.reason = reason
        self.moved_to = moved_to
        where = ", ".join(p.name for p in moved_to)
        super().__init__(f"{reason}; moved aside to {where}" if moved_to else reason)


def md5_hex(data: bytes) -> str:
    """The digest ``cib.xml.sig`` holds for ``data``."""
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


def pacemaker_digest(root: etree._Element) -> str:
    """Pacemaker's on-disk CIB digest (what it writes to cib.xml.sig): one definition,
    in ``versions.document_digest``, which serialises as Pacemaker does."""
    return document_digest(root)


def _utc_now() -> datetime:
    return datetime.now(UTC)


def why_refused(name: str, data: bytes, sig_name: str, sig: bytes | None) -> str | None:
    """Why ``data`` (file ``name``) with signature ``sig`` is refused, or None if sound."""
    if sig is None:
        return f"{name}: no signature: {sig_name} is missing"
    claimed = sig.decode("ascii", "replace").strip().lower()
    if not _HEX_DIGEST.fullmatch(claimed):
        return f"{name}: bad signature: {sig_name} holds {claimed[:40]!r}, not an MD5 digest"
    actual = md5_hex(data)
    mismatch = f"{name}: digest mismatch: {sig_name} says {claimed}, content hashes to {actual}"
    try:
        root = etree.fromstring(data, _PARSER)
    except etree.XMLSyntaxError as err:
        return mismatch if actual != claimed else f"{name}: not well-formed XML: {err.msg}"
    if actual == claimed or pacemaker_digest(root) == claimed:
        return None
    return mismatch


class CibStore:
    """``cib.xml`` + ``cib.xml.sig`` in ``directory``, written atomically, N backups kept.

    ``save`` and ``load`` follow the protocol in the module docstring. Which load to use:
    the node daemon calls ``load()``; on ``CorruptCib`` (or ``None``) it starts from an
    empty CIB at version 0:0:0 and takes the cluster's copy when it joins, because the
    replicas converge on the highest version and an empty CIB loses to every peer. An
    old backup would instead compete with a real version: a node that restarts from one
    and then writes while partitioned can bump its epoch past updates the others
    acknowledged and win the merge. ``load_or_recover()`` (newest valid backup when
    ``cib.xml`` is refused or absent, as Pacemaker's based does) is for a node known to
    be alone -- a one-node cluster, an offline tool, an operator's explicit recovery.
    """

    def __init__(self, directory: str | Path, backups: int = 10, *, fsync: bool = True,
                 clock: Callable[[], datetime] = _utc_now) -> None:
        if backups < 0:
            raise ValueError(f"backups must be >= 0, not {backups}")
        self.directory = Path(directory)
        self.keep_backups = backups
        self.fsync = fsync
        self._clock = clock
        self._directory_ready = False
        # Backup numbers on disk as this (sole) writer left them; None: scan next time.
        self._known_backups: list[int] | None = None
        self.problems: list[str] = []
        """What the last ``load_or_recover`` refused, one line per file."""

    # -- writing -----------------------------------------------------------------------

    def save(self, data: bytes) -> None:
        """Replace the CIB on disk with ``data``; when this returns, it is durable
        (with ``fsync``) and a crash can no longer bring the previous CIB back.

        Refused with ValueError (nothing written) when ``data`` is not well-formed XML:
        what ``save`` accepts, ``load`` must never refuse.
        """
        if not isinstance(data, bytes):
            raise TypeError(f"save() takes bytes, not {type(data).__name__}")
        try:
            etree.fromstring(data, _PARSER)
        except etree.XMLSyntaxError as err:
            raise ValueError(f"refusing to save a CIB that is not well-formed XML: "
                             f"{err.msg}") from None
        self._ensure_directory()
        self._remove_temps()
        self._write_file(NEW_CIB, data)
        self._write_file(NEW_SIG, md5_hex(data).encode("ascii"))
        if self.keep_backups:
            self._archive_current()
        os.replace(self._path(NEW_SIG), self._path(SIG))  # the commit point
        os.replace(self._path(NEW_CIB), self._path(CIB))
        self._sync_directory()

    def _archive_current(self) -> None:
        cib = self._path(CIB)
        if not cib.exists():
            return
        numbers = self._known_backups
        if numbers is None:
            numbers = self._backup_numbers()
        self._known_backups = None  # unknown again until this step completes
        number = self._next_backup_number(numbers)
        others = [n for n in numbers if n != number]
        # The oldest go first, before the new one appears: never more than `backups`
        # on disk, even after a crash.
        cut = max(0, len(others) - self.keep_backups + 1)
        for old in others[:cut]:
            _unlink_quietly(self._path(f"cib-{old}.raw"))
            _unlink_quietly(self._path(f"cib-{old}.raw.sig"))
        raw = self._path(f"cib-{number}.raw")
        for source, target in ((cib, raw), (self._path(SIG), self._path(raw.name + ".sig"))):
            _unlink_quietly(target)
            try:
                os.link(source, target)
            except FileNotFoundError:
                continue  # no signature to keep
            except OSError as err:
                if err.errno not in _NO_HARD_LINKS:
                    raise
                self._write_file(target.name, source.read_bytes(), durable=False)
        self._write_file(NEW_COUNTER, str(number + 1).encode("ascii"), durable=False)
        os.replace(self._path(NEW_COUNTER), self._path(COUNTER))
        self._known_backups = [*others[cut:], number]

    def _next_backup_number(self, numbers: list[int]) -> int:
        # cib.last is trusted when it is at least every existing number (equal: the
        # previous archive step was cut short and is redone); otherwise, as when it is
        # missing, torn or wrapped by Pacemaker, the numbers on disk decide.
        highest = numbers[-1] if numbers else -1
        counter = self._read_counter()
        if counter is not None and counter >= highest:
            return counter
        return highest + 1

    def _write_file(self, name: str, data: bytes, *, durable: bool = True) -> None:
        fd = os.open(self._path(name), os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC,
                     FILE_MODE)
        try:
            os.fchmod(fd, FILE_MODE)  # whatever the umask
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            if durable and self.fsync:
                os.fsync(fd)
        finally:
            os.close(fd)

    def _ensure_directory(self) -> None:
        if self._directory_ready:
            return
        self.directory.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.mkdir(self.directory, DIR_MODE)
            os.chmod(self.directory, DIR_MODE)  # mkdir's mode is masked by the umask
            self._sync_directory(self.directory.parent)  # the new entry, durable
        except FileExistsError:
            pass  # an existing directory keeps the mode its owner gave it
        self._directory_ready = True

    def _sync_directory(self, directory: Path | None = None) -> None:
        if not self.fsync:
            return
        fd = os.open(directory or self.directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    # -- reading -----------------------------------------------------------------------

    def load(self) -> bytes | None:
        """The CIB on disk, or None when there is none yet (a fresh node).

        Completes a save a crash interrupted, deletes leftover temp files, and refuses
        a ``cib.xml`` that lacks its signature, fails its digest or is not well-formed
        XML: the files are moved aside to ``cib.xml.corrupt-<UTC time>`` (+ ``.sig``)
        and ``CorruptCib`` says which file and what was wrong.
        """
        if not self.directory.is_dir():
            return None
        data, sig = self._read(CIB), self._read(SIG)
        refusal = None if data is None else why_refused(CIB, data, SIG, sig)
        if data is not None and refusal is None:
            self._remove_temps()
            return data
        completed = self._complete_interrupted_save(data, sig)
        if completed is not None:
            return completed
        self._remove_temps()
        if data is None and sig is None:
            return None
        if refusal is None:
            refusal = f"{CIB}: missing, but {SIG} exists"
        raise CorruptCib(self._path(CIB), refusal, self._move_aside())

    def load_or_recover(self) -> tuple[bytes | None, str | None]:
        """``load()``, falling back to the newest valid backup; returns (CIB, file used).

        ``(None, None)`` when there is neither a CIB nor a valid backup. Every file
        refused on the way is described in ``self.problems``. See the class docstring
        for why the node daemon uses ``load()`` instead.
        """
        self.problems = []
        try:
            data = self.load()
        except CorruptCib as err:
            self.problems.append(str(err))
        else:
            if data is not None:
                return data, CIB
        for raw in reversed(self.backups()):
            content = self._read(raw.name)
            if content is None:
                continue
            refusal = why_refused(raw.name, content, raw.name + ".sig", self._read(raw.name + ".sig"))
            if refusal is None:
                return content, raw.name
            self.problems.append(refusal)
        return None, None

    def _complete_interrupted_save(self, data: bytes | None, sig: bytes | None) -> bytes | None:
        new_data, new_sig = self._read(NEW_CIB), self._read(NEW_SIG)
        pairs = ((new_data, NEW_CIB, sig, None), (data, None, new_sig, NEW_SIG),
                 (new_data, NEW_CIB, new_sig, NEW_SIG))
        for content, content_temp, signature, sig_temp in pairs:
            if content is None or signature is None:
                continue
            if why_refused(content_temp or CIB, content, sig_temp or SIG, signature) is not None:
                continue
            if sig_temp is not None:  # same order as save(): signature first
                os.replace(self._path(sig_temp), self._path(SIG))
            if content_temp is not None:
                os.replace(self._path(content_temp), self._path(CIB))
            self._sync_directory()
            self._remove_temps()
            return content
        return None

    def _move_aside(self) -> list[Path]:
        stamp = self._clock().astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
        base, n = f"{CIB}.corrupt-{stamp}", 0
        while self._path(base).exists() or self._path(base + ".sig").exists():
            n += 1
            base = f"{CIB}.corrupt-{stamp}-{n}"
        moved = []
        for source, target in ((CIB, base), (SIG, base + ".sig")):
            try:
                os.rename(self._path(source), self._path(target))
            except FileNotFoundError:
                continue
            moved.append(self._path(target))
        self._sync_directory()
        return moved

    # -- the directory -----------------------------------------------------------------

    def backups(self) -> list[Path]:
        """The backup CIBs (``cib-N.raw``) present, oldest first; ``.sig`` beside each."""
        return [p for n in self._backup_numbers() if (p := self._path(f"cib-{n}.raw")).exists()]

    def last_generation(self) -> int:
        """Pacemaker's ``cib.last``: the N the next backup takes (0 for a fresh store);
        the backups present are numbered below it (``backups()``)."""
        return self._next_backup_number(self._backup_numbers())

    def _backup_numbers(self) -> list[int]:
        try:
            names = os.listdir(self.directory)
        except FileNotFoundError:
            return []
        return sorted({int(m.group(1)) for name in names if (m := _BACKUP_NAME.fullmatch(name))})

    def _read_counter(self) -> int | None:
        raw = self._read(COUNTER)
        try:
            return int(raw.decode("ascii").strip()) if raw is not None else None
        except (UnicodeDecodeError, ValueError):
            return None

    def _read(self, name: str) -> bytes | None:
        try:
            return self._path(name).read_bytes()
        except FileNotFoundError:
            return None

    def _remove_temps(self) -> None:
        for name in TEMPS:
            _unlink_quietly(self._path(name))

    def _path(self, name: str) -> Path:
        return self.directory / name


def _unlink_quietly(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)
