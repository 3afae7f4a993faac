"""Scenarios: TOML files, the shared runner, the shipped scenario library, the CLI."""

from scenarios.runner import ScenarioResult, run_scenario, write_outputs
from scenarios.spec import ScenarioSpec, load_scenario

__all__ = ["ScenarioResult", "ScenarioSpec", "load_scenario", "run_scenario", "write_outputs"]
