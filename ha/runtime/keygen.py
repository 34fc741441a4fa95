"""The cluster authkey: generate, write and read it the way Corosync's tools do.

The authkey is the secret every node shares; hastack derives its packet
authentication (HMAC-SHA-256) and encryption keys from it, as Corosync does. Facts
kept from corosync-keygen(8) and totemconfig.c:

- a key is 128 to 4096 random bytes (libknet's key length bounds), 256 by default,
  in ``/etc/corosync/authkey`` unless told otherwise;
- the file holds the raw bytes, nothing else, with mode 0400;
- a reader refuses a key shorter than 128 bytes (hastack also refuses one longer
  than 4096, where Corosync would silently use the first 4096 bytes).

Differences from corosync-keygen, on purpose: the random bytes come from
``os.urandom`` (the kernel CSPRNG; there is no ``-r`` random device option); the key
is written to a private temporary file in the target directory, created with mode
0400 so it is never readable by others, flushed to disk and then moved into place,
so a crash never leaves a partial key; and an existing key is not replaced unless
``force`` is given (corosync-keygen truncates it silently, which on a running
cluster cuts this node off from the others).
"""

from __future__ import annotations

import contextlib
import os

__all__ = ["DEFAULT_KEYFILE", "KEY_SIZE_DEFAULT", "KEY_SIZE_MAX", "KEY_SIZE_MIN", "AuthKeyError",
           "generate_key", "read_key", "write_key"]

DEFAULT_KEYFILE = "/etc/corosync/authkey"
KEY_SIZE_MIN = 128
KEY_SIZE_MAX = 4096
KEY_SIZE_DEFAULT = 256
KEY_MODE = 0o400


class AuthKeyError(ValueError):
    """An authkey cannot be read or written; the message names the path."""


def _check_size(size: int) -> None:
    if isinstance(size, bool) or not isinstance(size, int) or not KEY_SIZE_MIN <= size <= KEY_SIZE_MAX:
        raise ValueError(f"key size {size!r}: expected {KEY_SIZE_MIN}..{KEY_SIZE_MAX} bytes "
                         f"(corosync-keygen's range)")


def generate_key(size: int = KEY_SIZE_DEFAULT) -> bytes:
    """``size`` random bytes from the kernel CSPRNG; ValueError outside 128..4096."""
    _check_size(size)
    return os.urandom(size)


def write_key(path: str, key: bytes, *, force: bool = False) -> None:
    """Write ``key`` to ``path`` with mode 0400, atomically and never readable by others.

    The bytes go to a new file (O_EXCL, O_NOFOLLOW) beside ``path``, created 0400,
    fsynced, then linked into place (which fails if ``path`` exists) or, with
    ``force``, renamed over it. Raises AuthKeyError naming ``path``: when it exists
    and ``force`` is false, or on any OS error (no such directory, permission, ...).
    """
    _check_size(len(key))
    directory = os.path.dirname(os.path.abspath(path))
    if not force and os.path.lexists(path):
        raise AuthKeyError(f"{path}: a key is already there; not replacing it (ha keygen "
                           f"--force replaces it; every node then needs the new key)")
    tmp = os.path.join(directory, f".{os.path.basename(path)}.{os.urandom(6).hex()}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                     KEY_MODE)
    except OSError as exc:
        raise AuthKeyError(f"{path}: cannot create the key file: {exc.strerror or exc}") from None
    try:
        try:
            os.fchmod(fd, KEY_MODE)  # exact mode whatever the umask did at creation
            view = memoryview(key)
            while view:
                view = view[os.write(fd, view):]
            os.fsync(fd)
        finally:
            os.close(fd)
        if force:
            os.replace(tmp, path)
        else:
            os.link(tmp, path)  # fails with EEXIST instead of replacing a key written meanwhile
            os.unlink(tmp)
        _fsync_dir(directory)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(exc, FileExistsError):
            raise AuthKeyError(f"{path}: a key appeared there meanwhile; not replacing it") from None
        raise AuthKeyError(f"{path}: cannot write the key: {exc.strerror or exc}") from None


def _fsync_dir(directory: str) -> None:
    """Make the new directory entry durable (best effort: some file systems refuse)."""
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def read_key(path: str) -> bytes:
    """The authkey at ``path``; AuthKeyError (a ValueError) naming the path when it is
    missing, unreadable, or not 128..4096 bytes long (corosync-keygen's range)."""
    try:
        with open(path, "rb") as fh:
            key = fh.read(KEY_SIZE_MAX + 1)
    except OSError as exc:
        raise AuthKeyError(f"{path}: cannot read the authkey: {exc.strerror or exc}") from None
    if len(key) < KEY_SIZE_MIN:
        raise AuthKeyError(f"{path}: the authkey is {len(key)} bytes; expected "
                           f"{KEY_SIZE_MIN}..{KEY_SIZE_MAX} (corosync-keygen's range)")
    if len(key) > KEY_SIZE_MAX:
        raise AuthKeyError(f"{path}: the authkey is longer than {KEY_SIZE_MAX} bytes; expected "
                           f"{KEY_SIZE_MIN}..{KEY_SIZE_MAX} (corosync-keygen's range)")
    return key
