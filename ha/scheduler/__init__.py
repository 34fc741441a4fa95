"""The scheduler: a CIB (configuration + status) in, a transition out.

A pure function of its input and "now" (DESIGN.md rule 1), in Pacemaker's stages:
unpack (``unpack``, ``status``, ``history``, ``clones``) → unpack constraints
(``constraints``) → assign (``assign``) → mandatory orderings (``ordering``) →
create actions and apply orderings (``actions``) → the Transition Summary, with
``text`` for crm_simulate's output, ``export`` for JSON and ``explain`` for words.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ha.scheduler.model import Cluster, Transition
    from ha.scheduler.pipeline import execution_date, schedule

__all__ = ["Cluster", "Transition", "execution_date", "schedule"]

# Loaded on first use (PEP 562), so that importing one module of the package — the
# fencer and the executor read attribute sets with ``ha.scheduler.rules`` — does not
# load the whole scheduler into a daemon that is starting up.
_LAZY = {"schedule": "pipeline", "execution_date": "pipeline",
         "Cluster": "model", "Transition": "model"}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'ha.scheduler' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(f"ha.scheduler.{module}"), name)
