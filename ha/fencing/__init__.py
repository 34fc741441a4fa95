"""Fencing: fence devices and topology levels from the CIB, the fence-agent stdin
protocol, the fencer core (requests, execution plans, shared history) and self-fencing.

Sans-IO: nothing here runs a process or reads a clock; ``ha.runtime.fence_runner``
runs the agents and ``ha.runtime.fencerservice`` hosts the core in the node daemon.
"""
