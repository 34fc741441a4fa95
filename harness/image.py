"""The hastack node image, built offline: ``ha-harness image build`` / ``image show``.

Three stages: (1) the base image ``hastack-base:bookworm`` from ``containers/build-base.sh``
(debootstrap + ``docker import``; no registry), rebuilt only when missing or when its
``io.hastack.inputs`` label differs from the digest of that script and
``containers/packages.txt``; (2) wheels of hastack and its dependencies, built on the
host (``pip wheel``; Python 3.11 on both sides); (3) ``docker build`` of
``containers/Dockerfile``, tagged ``hastack-node:<digest12>`` and ``hastack-node:latest``.

The digest covers every input: the Dockerfile, build-base.sh, packages.txt,
pyproject.toml and every ``.py`` under ``ha/`` and ``harness/``. When
``hastack-node:latest`` carries the same digest, nothing is built.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import functools
import hashlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BASE_TAG = "hastack-base:bookworm"
NODE_REPO = "hastack-node"
LATEST = f"{NODE_REPO}:latest"
LABEL = "io.hastack.inputs"
CONTAINER_FILES = ("containers/Dockerfile", "containers/build-base.sh", "containers/packages.txt")
SOURCE_DIRS = ("ha", "harness")
PROGRESS_EVERY = 10.0   # seconds between debootstrap progress lines

Progress = Callable[[str], object]


class ImageError(RuntimeError):
    """The image could not be built or inspected; the message says which step and why."""


# ---- inputs ------------------------------------------------------------------------
def input_files(root: Path = ROOT) -> list[Path]:
    """Every file whose bytes go into the node image, sorted by path."""
    files = [root / f for f in (*CONTAINER_FILES, "pyproject.toml")]
    for d in SOURCE_DIRS:
        files += [p for p in (root / d).rglob("*.py") if "__pycache__" not in p.parts]
    return sorted(files, key=lambda p: p.relative_to(root).as_posix())


def inputs_digest(root: Path = ROOT, base: str | None = None) -> str:
    """sha256 over the path and bytes of every input file (and a non-default base)."""
    h = hashlib.sha256(f"base={base or BASE_TAG}\0".encode())
    for p in input_files(root):
        data = p.read_bytes()
        h.update(f"{p.relative_to(root).as_posix()}\0{len(data)}\0".encode())
        h.update(data)
    return h.hexdigest()


def base_inputs_digest(root: Path = ROOT) -> str:
    """The digest build-base.sh labels the base with: sha256 of itself + packages.txt."""
    c = root / "containers"
    return hashlib.sha256((c / "build-base.sh").read_bytes()
                          + (c / "packages.txt").read_bytes()).hexdigest()


# ---- the engine ----------------------------------------------------------------------
@functools.cache
def client() -> Any:
    """A Docker SDK client for the engine of the environment (DOCKER_HOST or the socket)."""
    import docker

    return docker.from_env(timeout=120)


@functools.cache
def unavailable() -> str | None:
    """Why Docker cannot be used here (no SDK, no engine answering), or None."""
    try:
        import docker  # noqa: F401
    except ImportError:
        return "the `docker` Python package is not installed (pip install 'docker>=7')"
    try:
        client().ping()
    except Exception as exc:  # the SDK raises DockerException, requests or OS errors
        return f"no Docker engine answers ({type(exc).__name__}: {exc})"
    return None


def _image(ref: str) -> Any | None:
    import docker.errors

    try:
        return client().images.get(ref)
    except docker.errors.ImageNotFound:
        return None


def _label(img: Any | None) -> str | None:
    if img is None:
        return None
    label = (img.labels or {}).get(LABEL)
    return None if label is None else str(label)


def image_ref() -> str:
    """The tag clusters run: ``hastack-node:latest``."""
    return LATEST


# ---- building ------------------------------------------------------------------------
def _build_base(progress: Progress) -> None:
    script = ROOT / "containers" / "build-base.sh"
    t0 = time.monotonic()
    # its own session: on an interrupt the whole group (debootstrap too) gets SIGTERM,
    # and the script's EXIT trap removes the half-made tree
    proc = subprocess.Popen([str(script), BASE_TAG], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, bufsize=1,
                            start_new_session=True)
    assert proc.stdout is not None
    tail: list[str] = []
    counts = {"Retrieving": 0, "Unpacking": 0, "Configuring": 0}
    last_report = t0
    try:
        for line in proc.stdout:
            line = line.rstrip()
            tail = [*tail[-39:], line]
            for word in counts:
                if line.startswith(f"I: {word} "):
                    counts[word] += 1
            if line.startswith("build-base.sh:") and "packages:" not in line:
                progress(f"      {line}")
            now = time.monotonic()
            if now - last_report >= PROGRESS_EVERY:
                last_report = now
                progress(f"      {now - t0:4.0f} s: {counts['Retrieving']} retrieved, "
                         f"{counts['Unpacking']} unpacked, {counts['Configuring']} configured; "
                         f"{line[:80]}")
        rc = proc.wait()
    except BaseException:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        proc.wait()
        raise
    if rc != 0:
        raise ImageError(f"build-base.sh failed (exit {rc}); its last lines:\n" + "\n".join(tail))
    progress(f"      base image built in {time.monotonic() - t0:.0f} s")


def _build_wheels(src: Path, wheels: Path, progress: Progress) -> None:
    for rel in ("pyproject.toml", "README.md", *SOURCE_DIRS):
        p = ROOT / rel
        if p.is_dir():
            shutil.copytree(p, src / rel, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        elif p.exists():
            shutil.copy2(p, src / rel)
    t0 = time.monotonic()
    r = subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet",
                        "--disable-pip-version-check", str(src), "-w", str(wheels)],
                       capture_output=True, text=True)
    if r.returncode != 0:
        raise ImageError(f"pip wheel failed (exit {r.returncode}):\n{r.stderr[-3000:]}")
    (wheels / "deps").mkdir()
    (wheels / "hastack").mkdir()
    for whl in wheels.glob("*.whl"):      # hastack apart: the deps layer stays cached
        whl.rename(wheels / ("hastack" if whl.name.startswith("hastack-") else "deps") / whl.name)
    names = sorted(p.name.split("-")[0] for p in wheels.glob("*/*.whl"))
    progress(f"      {len(names)} wheels in {time.monotonic() - t0:.0f} s: {' '.join(names)}")


def _docker_build(ctx: Path, tag: str, base: str, digest: str, nocache: bool,
                  progress: Progress) -> None:
    tail: list[str] = []
    stream: Iterable[dict[str, Any]] = client().api.build(
        path=str(ctx), tag=tag, buildargs={"BASE": base, "INPUTS": digest}, rm=True,
        forcerm=True, pull=False, nocache=nocache, decode=True)
    for chunk in stream:
        if "error" in chunk:
            raise ImageError(f"docker build failed: {chunk['error'].strip()}\n"
                             + "\n".join(tail[-30:]))
        for line in str(chunk.get("stream", "")).splitlines():
            tail.append(line)
            if line.startswith("Step "):
                progress(f"      {line[:110]}")


def build(*, force: bool = False, base: str | None = None, progress: Progress = print) -> str:
    """Build the node image when its inputs changed (or ``force``: without the build
    cache); returns its ``hastack-node:<digest12>`` tag. ``base`` replaces the offline
    base image (the Dockerfile then installs what the base lacks, which needs apt)."""
    why = unavailable()
    if why:
        raise ImageError(f"cannot build {LATEST}: {why}")
    if not (ROOT / "containers" / "Dockerfile").exists():
        raise ImageError(f"{ROOT / 'containers'}: not found (build from a source checkout)")
    digest = inputs_digest(base=base)
    tag = f"{NODE_REPO}:{digest[:12]}"
    if not force and _label(_image(LATEST)) == digest:
        progress(f"up to date: {tag} (inputs unchanged)")
        return tag
    # one build at a time on this host (parallel test workers): the second one waits,
    # then finds the image up to date
    with open(Path(tempfile.gettempdir()) / "hastack-image-build.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        previous = _image(LATEST)
        if not force and _label(previous) == digest:
            progress(f"up to date: {tag} (built meanwhile by another process)")
            return tag
        _build_locked(digest, tag, previous, force=force, base=base, progress=progress)
    return tag


def _build_locked(digest: str, tag: str, previous: Any | None, *, force: bool,
                  base: str | None, progress: Progress) -> None:
    t0 = time.monotonic()
    if base is None:
        if _label(_image(BASE_TAG)) == base_inputs_digest():
            progress(f"[1/3] base image {BASE_TAG}: up to date")
        else:
            progress(f"[1/3] base image {BASE_TAG}: debootstrap bookworm (a few minutes) ...")
            _build_base(progress)
    else:
        progress(f"[1/3] base image {base}: given (the Dockerfile installs what it lacks)")
    with tempfile.TemporaryDirectory(prefix="hastack-image.") as tmp:
        ctx = Path(tmp) / "context"
        (ctx / "wheels").mkdir(parents=True)
        (Path(tmp) / "src").mkdir()
        progress("[2/3] wheels: pip wheel hastack and its dependencies ...")
        _build_wheels(Path(tmp) / "src", ctx / "wheels", progress)
        for f in ("Dockerfile", "packages.txt"):
            shutil.copy2(ROOT / "containers" / f, ctx / f)
        progress(f"[3/3] docker build {tag} ...")
        _docker_build(ctx, tag, base or BASE_TAG, digest, force, progress)
    client().api.tag(tag, NODE_REPO, "latest")
    if previous is not None and _label(previous) not in (None, digest):
        old = f"{NODE_REPO}:{str(_label(previous))[:12]}"
        with contextlib.suppress(Exception):   # still used by a container: keep it
            client().api.remove_image(old)
    progress(f"built {tag} (= {LATEST}) in {time.monotonic() - t0:.0f} s")


# ---- command line ----------------------------------------------------------------------
def show() -> dict[str, Any]:
    """What ``image show`` prints: tag, digest, size, created, whether up to date."""
    img = _image(LATEST)
    want = inputs_digest()
    if img is None:
        return {"tag": LATEST, "present": False, "inputs": want, "up_to_date": False}
    have = _label(img)
    return {"tag": LATEST, "present": True, "id": img.short_id,
            "tags": sorted(img.tags), "inputs": have,
            "size_mb": round(int(img.attrs.get("Size", 0)) / 1e6, 1),
            "created": img.attrs.get("Created", "?"), "up_to_date": have == want}


def _cmd_build(args: argparse.Namespace) -> int:
    try:
        build(force=args.force, base=args.base)
    except ImageError as exc:
        print(f"ha-harness image build: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("ha-harness image build: interrupted", file=sys.stderr)
        return 130
    return 0


def _cmd_show(args: argparse.Namespace) -> int:
    why = unavailable()
    if why:
        print(f"ha-harness image show: {why}", file=sys.stderr)
        return 1
    s = show()
    if not s["present"]:
        print(f"{LATEST}: not built (ha-harness image build)")
        return 1
    print(f"tag:      {' '.join(s['tags'])}")
    print(f"id:       {s['id']}")
    print(f"inputs:   {s['inputs']}")
    print(f"size:     {s['size_mb']} MB")
    print(f"created:  {s['created']}")
    print(f"status:   {'up to date' if s['up_to_date'] else 'out of date (inputs changed)'}")
    return 0


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``image build [--force] [--base IMAGE]`` and ``image show``."""
    p = sub.add_parser("image", help="the hastack node image (offline Debian base + wheels)")
    isub = p.add_subparsers(dest="image_cmd", required=True)
    b = isub.add_parser("build", help="build hastack-node:latest when its inputs changed")
    b.add_argument("--force", action="store_true",
                   help="build even when up to date, without the build cache")
    b.add_argument("--base", metavar="IMAGE",
                   help="base image instead of the offline hastack-base:bookworm "
                        "(e.g. debian:bookworm-slim, needs a registry and apt)")
    b.set_defaults(func=_cmd_build)
    s = isub.add_parser("show", help="tag, inputs digest, size, created, up to date or not")
    s.set_defaults(func=_cmd_show)
