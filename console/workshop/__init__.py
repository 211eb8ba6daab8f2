"""Workshops: scenarios, their objectives and the Lab model, ``cmklab scenario ...`` and ``cmklab serve``.

* :mod:`console.workshop.scenario`: scenario data (TOML) and its parsing, the landscape a scenario
  builds, the objectives (checked through the engine's public queries) and :class:`Lab`, the headless
  model of a scenario being played;
* :mod:`console.workshop.cli`: ``cmklab scenario list|run|check|show|reset-step|next`` on a home, playing
  hints through the az CLI in-process (``--auto``); ``cmklab serve`` is in console.workshop.serve;
* :mod:`console.workshop.glue`: the only module here that reaches the Textual console (opening it after
  ``scenario run``, and ``python -m console.workshop``);
* ``scenarios/*.toml``: the six exercises shipped with cmklab (package data).

The public names of all three are importable from here.
"""

from .cli import (SCENARIO_DIR, PlayResult, Runner, cli_runner, find_scenario, home_has_state, new_landscape,
                  open_lab, play, reset_home, run_scenario_cli, run_serve, scenarios, serve_command)
from .glue import main, open_console
from .scenario import (LAB_DOCUMENT, OBJECTIVES, Hint, Impossible, Lab, Objective, ObjectiveResult, Scenario,
                       ScenarioError, Step, build_landscape, check_objective, evaluate_objective, load_scenario,
                       load_scenarios, parse_scenario, render_hint, start_scenario)

__all__ = ["LAB_DOCUMENT", "OBJECTIVES", "SCENARIO_DIR", "Hint", "Impossible", "Lab", "Objective", "ObjectiveResult",
           "PlayResult", "Runner", "Scenario", "ScenarioError", "Step", "build_landscape", "check_objective",
           "cli_runner", "evaluate_objective", "find_scenario", "home_has_state", "load_scenario", "load_scenarios",
           "main", "new_landscape", "open_console", "open_lab", "parse_scenario", "play", "render_hint",
           "reset_home", "run_scenario_cli", "run_serve", "scenarios", "serve_command", "start_scenario"]
