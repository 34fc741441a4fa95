"""The executor: runs resource agents (OCF, LSB) for one node, sans-IO.

``Executor`` (core.py) queues and times actions and returns effects; the runtime
(``ha.runtime.executor_runner``) carries them out with real processes and clocks.
"""

from ha.executor.agent import AgentError, ResourceAgent
from ha.executor.codes import ExecStatus, OcfRc, exec_status_name, rc_name, recovery_class
from ha.executor.core import Executor
from ha.executor.environment import TraceOptions, clone_meta, notify_meta
from ha.executor.events import (
    ActionResult,
    AgentExited,
    AgentFailedToRun,
    CancelRecurring,
    ExecutorError,
    KillAgent,
    Request,
    RunAgent,
    Trace,
)
from ha.executor.metadata import AgentMetadata, MetadataError, parse_metadata

__all__ = [
    "ActionResult", "AgentError", "AgentExited", "AgentFailedToRun", "AgentMetadata",
    "CancelRecurring", "ExecStatus", "Executor", "ExecutorError", "KillAgent",
    "MetadataError", "OcfRc", "Request", "ResourceAgent", "RunAgent", "Trace",
    "TraceOptions", "clone_meta", "exec_status_name", "notify_meta", "parse_metadata",
    "rc_name", "recovery_class",
]
