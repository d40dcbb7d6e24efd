"""The X Booker simulator: the demo's embedded X Booker and the tests' X Booker."""

from bot.simulator.server import SimulatorServer
from bot.simulator.state import DEMO_CREDENTIALS, Simulator

__all__ = ["DEMO_CREDENTIALS", "Simulator", "SimulatorServer"]
