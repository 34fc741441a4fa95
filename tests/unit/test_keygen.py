"""Unit tests of ha.runtime.keygen and ``ha keygen`` (the cluster authkey)."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from ha.cli.main import main
from ha.runtime import keygen
from ha.runtime.keygen import AuthKeyError, generate_key, read_key, write_key


@pytest.fixture
def umask() -> Iterator[None]:
    old = os.umask(0o022)
    yield
    os.umask(old)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


# ---- generate_key ---------------------------------------------------------------------
def test_generate_key_has_the_default_size_and_is_random() -> None:
    assert len(generate_key()) == 256 and generate_key() != generate_key()


@pytest.mark.parametrize("size", [128, 4096])
def test_generate_key_accepts_corosync_keygens_bounds(size: int) -> None:
    assert len(generate_key(size)) == size


@pytest.mark.parametrize("size", [0, 127, 4097])
def test_generate_key_refuses_sizes_outside_the_range(size: int) -> None:
    with pytest.raises(ValueError, match="128..4096"):
        generate_key(size)


# ---- write_key ------------------------------------------------------------------------
def test_write_key_writes_the_bytes_with_mode_0400(tmp_path: Path, umask: None) -> None:
    key = generate_key()
    write_key(str(tmp_path / "authkey"), key)
    assert (tmp_path / "authkey").read_bytes() == key and mode(tmp_path / "authkey") == 0o400


@pytest.mark.parametrize("mask", [0o000, 0o777])
def test_write_key_mode_does_not_depend_on_the_umask(tmp_path: Path, mask: int) -> None:
    old = os.umask(mask)
    try:
        write_key(str(tmp_path / "authkey"), generate_key())
    finally:
        os.umask(old)
    assert mode(tmp_path / "authkey") == 0o400


def test_key_is_never_readable_by_others(tmp_path: Path, umask: None,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """Created private (no chmod after the fact) and still private while bytes go in."""
    created: list[int] = []
    while_writing: list[int] = []
    real_open, real_write = os.open, os.write

    def spying_open(path: str, flags: int, mode: int = 0o777, **kw: object) -> int:
        if flags & os.O_CREAT:
            created.append(mode)
        return real_open(path, flags, mode, **kw)  # type: ignore[arg-type]

    def spying_write(fd: int, data: bytes | memoryview) -> int:
        while_writing.append(stat.S_IMODE(os.fstat(fd).st_mode))
        return real_write(fd, data)

    monkeypatch.setattr(os, "open", spying_open)
    monkeypatch.setattr(os, "write", spying_write)
    write_key(str(tmp_path / "authkey"), generate_key())
    assert created and all(m & 0o077 == 0 for m in created)
    assert while_writing and all(m & 0o077 == 0 for m in while_writing)


def test_write_key_refuses_to_replace_a_key(tmp_path: Path) -> None:
    path = tmp_path / "authkey"
    path.write_bytes(b"old" * 100)
    with pytest.raises(AuthKeyError, match=str(path)):
        write_key(str(path), generate_key())
    assert path.read_bytes() == b"old" * 100


def test_write_key_refuses_a_dangling_symlink(tmp_path: Path) -> None:
    (tmp_path / "authkey").symlink_to(tmp_path / "elsewhere")
    with pytest.raises(AuthKeyError):
        write_key(str(tmp_path / "authkey"), generate_key())
    assert not (tmp_path / "elsewhere").exists()


def test_write_key_with_force_replaces_a_key(tmp_path: Path) -> None:
    path = tmp_path / "authkey"
    path.write_bytes(b"old" * 100)
    key = generate_key()
    write_key(str(path), key, force=True)
    assert path.read_bytes() == key and mode(path) == 0o400


def test_write_key_leaves_no_temporary_file(tmp_path: Path) -> None:
    write_key(str(tmp_path / "authkey"), generate_key())
    with pytest.raises(AuthKeyError):
        write_key(str(tmp_path / "authkey"), generate_key())
    assert [p.name for p in tmp_path.iterdir()] == ["authkey"]


def test_write_key_into_a_missing_directory_names_the_path(tmp_path: Path) -> None:
    path = tmp_path / "no" / "authkey"
    with pytest.raises(AuthKeyError, match=str(path)):
        write_key(str(path), generate_key())


def test_write_key_refuses_a_key_of_the_wrong_size(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        write_key(str(tmp_path / "authkey"), b"short")
    assert not (tmp_path / "authkey").exists()


# ---- read_key -------------------------------------------------------------------------
def test_read_key_returns_what_write_key_wrote(tmp_path: Path) -> None:
    key = generate_key(1024)
    write_key(str(tmp_path / "authkey"), key)
    assert read_key(str(tmp_path / "authkey")) == key


@pytest.mark.parametrize("size", [0, 127, 4097])
def test_read_key_refuses_a_key_outside_the_range(tmp_path: Path, size: int) -> None:
    path = tmp_path / "authkey"
    path.write_bytes(b"k" * size)
    with pytest.raises(AuthKeyError, match=f"{path}: .*128..4096"):
        read_key(str(path))


def test_read_key_of_a_missing_file_names_the_path(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=str(tmp_path / "none")):
        read_key(str(tmp_path / "none"))


def test_read_key_of_a_directory_names_the_path(tmp_path: Path) -> None:
    with pytest.raises(AuthKeyError, match=f"{tmp_path}: cannot read"):
        read_key(str(tmp_path))


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any file")
def test_read_key_of_an_unreadable_file_names_the_path(tmp_path: Path) -> None:
    path = tmp_path / "authkey"
    path.write_bytes(b"k" * 256)
    path.chmod(0)
    with pytest.raises(AuthKeyError, match=str(path)):
        read_key(str(path))


# ---- ha keygen ------------------------------------------------------------------------
def test_cli_writes_a_default_size_key(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "authkey"
    assert main(["keygen", "-k", str(path)]) == 0
    assert len(path.read_bytes()) == keygen.KEY_SIZE_DEFAULT and mode(path) == 0o400
    assert str(path) in capsys.readouterr().out


def test_cli_size_option(tmp_path: Path) -> None:
    assert main(["keygen", "--key-file", str(tmp_path / "k"), "-s", "2048"]) == 0
    assert len((tmp_path / "k").read_bytes()) == 2048


@pytest.mark.parametrize("size", ["127", "4097", "big"])
def test_cli_refuses_sizes_outside_the_range_as_usage_errors(
        tmp_path: Path, size: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["keygen", "-k", str(tmp_path / "k"), "-s", size])
    assert info.value.code == 2 and "128..4096" in capsys.readouterr().err
    assert not (tmp_path / "k").exists()


def test_cli_does_not_replace_a_key_without_force(tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "authkey"
    path.write_bytes(b"old" * 100)
    assert main(["keygen", "-k", str(path)]) == 1
    assert "--force" in capsys.readouterr().err and path.read_bytes() == b"old" * 100


def test_cli_force_replaces_a_key(tmp_path: Path) -> None:
    path = tmp_path / "authkey"
    path.write_bytes(b"old" * 100)
    assert main(["keygen", "-k", str(path), "--force"]) == 0
    assert len(path.read_bytes()) == 256


def test_cli_accepts_corosync_keygens_no_op_l_option(tmp_path: Path) -> None:
    assert main(["keygen", "-l", "-k", str(tmp_path / "k")]) == 0
