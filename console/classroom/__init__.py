"""``cmklab classroom``: one isolated lab per trainee in the browser, and the trainer's live overview.

* :mod:`console.classroom.room`: the classroom directory (roster, tokens in a 0600 file, one home per
  trainee built from the scenario's seed) and :class:`Progress`, every trainee's step and objective
  states, checked by the workshop's objectives against each home (no console is opened);
* :mod:`console.classroom.server`: the aiohttp server: each trainee's console (a process of its own, on
  their home), the trainer's page and API; ``console.workshop.serve``'s guard checks every request's Host/Origin;
* :mod:`console.classroom.tls`: a given certificate or a self-signed one;
* :mod:`console.classroom.cli`: ``cmklab classroom SCENARIO ...``.

Nothing here imports textual: consoles run in their own processes.
"""

from .cli import run_classroom

__all__ = ["run_classroom"]
