"""A Docker image whose containers just sleep: the "node" that fencing tests power off.

The fencing tests need a container to kill and start, nothing inside it. No registry is
reachable from the lab, so the image is taken from what is local: the project's node
image (``hastack-node``/``hastack-base``) when it has been built, else a tiny image
``hastack-sleeper:latest`` imported (``docker import``, no registry) from this host's
own ``sleep`` binary and the shared libraries ``ldd`` says it needs.
"""

from __future__ import annotations

import io
import os
import re
import shutil
import subprocess
import tarfile

SLEEPER = "hastack-sleeper:latest"
PROJECT_IMAGES = ("hastack-node:latest", "hastack-base:latest")
SLEEP_COMMAND = ("/bin/sleep", "infinity")


class ImageUnavailable(RuntimeError):
    """No image could be found or made (the message says why: a test skips with it)."""


def _docker(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(["docker", *args], input=stdin, capture_output=True, timeout=120)


def _has_image(ref: str) -> bool:
    return _docker("image", "inspect", ref).returncode == 0


def _libraries(binary: str) -> list[str]:
    out = subprocess.run(["ldd", binary], capture_output=True, text=True, check=True).stdout
    libs = []
    for line in out.splitlines():
        m = re.search(r"(/\S+)", line)
        if m and os.path.exists(m.group(1)):
            libs.append(m.group(1))
    return libs


def _rootfs_tar(binary: str) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for path in [binary, *_libraries(binary)]:
            real = os.path.realpath(path)
            info = tar.gettarinfo(real, arcname=path.lstrip("/"))
            with open(real, "rb") as f:
                tar.addfile(info, f)
        # containers need these mount points in the image
        for d in ("proc", "sys", "dev", "etc", "tmp"):
            t = tarfile.TarInfo(d)
            t.type, t.mode = tarfile.DIRTYPE, 0o755
            tar.addfile(t)
    return buf.getvalue()


def sleeper_image() -> tuple[str, tuple[str, ...]]:
    """An image and the command that keeps its container running (see module docstring).

    Raises ImageUnavailable with the reason when Docker is absent or the import fails."""
    if shutil.which("docker") is None:
        raise ImageUnavailable("no docker command")
    if _docker("version", "--format", "{{.Server.Version}}").returncode != 0:
        raise ImageUnavailable("the Docker engine does not answer")
    for ref in PROJECT_IMAGES:
        if _has_image(ref):
            return ref, ("sleep", "infinity")
    if not _has_image(SLEEPER):
        sleep = shutil.which("sleep")
        if sleep is None:
            raise ImageUnavailable("no sleep binary on this host to build a sleeper image from")
        r = _docker("import", "-", SLEEPER, stdin=_rootfs_tar(os.path.realpath(sleep)))
        if r.returncode != 0:
            raise ImageUnavailable(f"docker import of a sleeper image failed: "
                                   f"{r.stderr.decode(errors='replace').strip()}")
    return SLEEPER, (os.path.realpath(shutil.which("sleep") or "/bin/sleep"), "infinity")
