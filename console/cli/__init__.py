"""The headless CLI: ``cmklab az ...`` (the Azure CLI's commands, flags, output and errors) and
cmklab's own verbs (``vm write|read``, ``disk inspect``, ``clock``, ``audit``, ``what-if``).

Every command calls the engine facade (one method per command, see :mod:`console.cli.spec`); no rule
lives here. Nothing on this path imports textual; modules load lazily and the store opens once.
"""

from __future__ import annotations


def run_cli(argv: list[str], *, home=None, seed: int | None = None, profile: str | None = None,
            empty: bool = False, read_only: bool = False, engine=None, **_ignored) -> int:
    """Run one CLI call; returns the exit code (0 ok, 1 refused or failed, 2 usage error, 3 not found).

    ``home``/``seed``/``profile`` choose the store (as ``console.session.open_engine``); ``read_only``
    refuses every command that changes state; ``engine`` runs on an engine already open (tests).
    ``empty`` is the console's option (the CLI never fills a new store).
    """
    from .runner import Context, main

    ctx = Context(home=home, seed=seed, profile=profile, read_only=read_only, engine=engine)
    return main(list(argv), ctx)


__all__ = ["run_cli"]
