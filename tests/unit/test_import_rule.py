"""DESIGN.md rule 1: protocol cores are sans-IO.

The core packages import no asyncio, socket, subprocess, threading or time, and use
no module-level (unseeded) random. Checked on the syntax tree, so a string or a
comment cannot fool it and an aliased import cannot hide.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CORES = ["ha/totem", "ha/cib", "ha/scheduler", "ha/controller", "ha/executor", "ha/fencing"]
FORBIDDEN = {"asyncio", "socket", "subprocess", "threading", "time"}
RANDOM_CALLS = {"random", "randint", "choice", "shuffle", "uniform", "randrange", "sample",
                "getrandbits", "expovariate", "gauss", "seed"}


def _core_files() -> list[Path]:
    files = [p for d in CORES for p in sorted((ROOT / d).rglob("*.py"))]
    assert files, "no core modules found"
    return files


def violations(source: str) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                top = alias.name.split(".")[0]
                if top in FORBIDDEN:
                    found.append(f"line {node.lineno}: import {alias.name}")
                if top == "random":
                    found.append(f"line {node.lineno}: import random (module-level random)")
        elif isinstance(node, ast.ImportFrom) and node.module:
            top = node.module.split(".")[0]
            if top in FORBIDDEN:
                found.append(f"line {node.lineno}: from {node.module} import ...")
            if top == "random" and any(a.name in RANDOM_CALLS for a in node.names):
                found.append(f"line {node.lineno}: from random import module-level function")
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            target = node.func.value
            if isinstance(target, ast.Name) and target.id == "random" and node.func.attr in RANDOM_CALLS:
                found.append(f"line {node.lineno}: random.{node.func.attr}() is unseeded")
    return found


@pytest.mark.parametrize("path", _core_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_core_module_is_sans_io(path: Path) -> None:
    problems = violations(path.read_text(encoding="utf-8"))
    assert not problems, f"{path.relative_to(ROOT)} breaks the sans-IO rule: {problems}"


@pytest.mark.parametrize("snippet", [
    "import time", "import asyncio as aio", "from socket import socket", "import subprocess",
    "from threading import Thread", "import random", "random.random()",
    "from random import randint",
])
def test_rule_catches(snippet: str) -> None:
    assert violations(snippet), f"the rule should refuse {snippet!r}"


def test_rule_allows_seeded_generators() -> None:
    assert not violations("def f(rng):\n    return rng.random()\n")
