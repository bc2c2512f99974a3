"""Simulated nodes: a ``Node`` with no host behind it, for the demo, tests and benchmarks.

node.py is the node, simulator.py the shared clock (seed, frozen time, chaos),
container.py a simulated container's resources and metrics, logs.py its log lines.
"""

from tui_orch.nodes.sim.node import SimulatedNode
from tui_orch.nodes.sim.simulator import Chaos, Simulator, default_simulator, set_default_simulator

__all__ = ["Chaos", "SimulatedNode", "Simulator", "default_simulator", "set_default_simulator"]
