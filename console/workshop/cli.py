"""Workshops: ``cmklab scenario ...`` and ``cmklab serve``.

``run_scenario_cli(argv, **opts)`` takes what follows ``cmklab scenario``::

    list [--names]                       the scenarios shipped with cmklab
    run NAME|FILE.toml [--auto] [--reset] [--until N] [--skip N] [--verbose] [--no-console]
                                         a fresh landscape in the home; --auto plays every hint
    check                                checks the current step's objectives on the home's state
    show [NAME]                          prints the current step (narrative, hints, objectives); with a
                                         scenario's name or number, what it is about and its steps
    reset-step                           the landscape as it was when the current step began (a
                                         step that can no longer be met: a purged key is final)
    next                                 move on to the next step without meeting this one (the
                                         console's >): a step you are already past

``run_serve(argv, **opts)`` takes what follows ``cmklab serve`` and serves the console in a browser
through textual-serve (console/workshop/serve.py).

``opts`` are cmklab's global options (``home``, ``seed``, ``profile``, ``read_only``...). Scenario
files are ``console/workshop/scenarios/*.toml`` (package data); :mod:`console.workshop.scenario` loads
them, builds the landscape, checks objectives and holds the Lab model. Hints are ``cmklab ...`` command
lines: ``--auto`` runs each through the CLI in-process (``console.cli.run_cli``), exactly as a trainee
typing them would. Nothing here imports textual: the console is opened through
:mod:`console.workshop.glue`, imported only when it is.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import shlex
import shutil
import sys
from engine._light import dataclass, field, replace
from pathlib import Path
from typing import Callable, Iterable

from engine.errors import EngineError

from .scenario import (Lab, Scenario, ScenarioError, ScenarioNotFound, cmklab_prefix, load_scenario,
                       load_scenarios, render_hint, start_scenario, text_width, with_prefix, wrap_text)

SCENARIO_DIR = Path(__file__).with_name("scenarios")

Runner = Callable[[list[str]], "tuple[int, str, str]"]
"""Runs one hint's argv (without the leading ``cmklab``) on a home; returns (exit code, stdout, stderr)."""


# ====================================================================================== helpers


def scenarios() -> list[Scenario]:
    return load_scenarios(SCENARIO_DIR)


def find_scenario(name: str) -> Scenario:
    """A shipped scenario by name (or order number), or a trainer's own ``.toml`` file by path."""
    if name.endswith(".toml"):
        path = Path(name).expanduser().absolute()
        if not path.is_file():
            raise ScenarioNotFound(f"scenario file {name} does not exist")
        return replace(load_scenario(path), path=str(path))
    all_ = scenarios()
    for s in all_:
        if s.name == name:
            return s
    by_order = {str(s.order): s for s in all_}
    if name in by_order:
        return by_order[name]
    raise ScenarioNotFound(f"no scenario named {name!r}; scenarios: {', '.join(s.name for s in all_)}")


def _home(opts: dict) -> Path:
    from console.session import default_home

    return (Path(opts["home"]) if opts.get("home") else default_home()).absolute()


def home_has_state(home: Path) -> bool:
    from store import has_state

    return has_state(home)


def _refused_by_store(home: Path, read_only: bool, what: str) -> None:
    """Ask the home's store, opened in the session's mode, whether ``what`` (a change made around its commit:
    files replaced wholesale) may go ahead: a store opened read-only refuses it, with its own error."""
    from console.session import open_engine

    engine = open_engine(home, read_only=read_only)
    try:
        engine.refuse_if_read_only(what)
    finally:
        engine.close()


def reset_home(home: Path) -> None:
    """Remove what a landscape leaves in a home: the state (the lab's progress, a side document of the store,
    goes with it) and the disk blobs."""
    from store import remove_state

    remove_state(home)
    shutil.rmtree(home / "blobs", ignore_errors=True)


def cli_runner(home: Path, *, engine=None, extra: dict | None = None) -> Runner:
    """Hints through the real CLI, in-process: ``console.cli.run_cli(argv, home=..., engine=...)``.

    ``engine``: the engine already open on ``home`` (the lab's), so that every hint runs on it
    instead of opening the store again; the commands and their effects are the same either way."""
    try:
        from console.cli import run_cli
    except ImportError as e:  # pragma: no cover - only while the CLI is being built
        raise ScenarioError(f"the cmklab CLI (console.cli) is not available: {e}", code="NotImplemented") from None

    def run(argv: list[str]) -> tuple[int, str, str]:
        out, err = io.StringIO(), io.StringIO()
        kwargs = dict(extra or {})
        if engine is not None:
            kwargs["engine"] = engine
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                rc = run_cli(list(argv), home=str(home), **kwargs)
            except SystemExit as e:  # argparse exits on bad usage
                rc = e.code if isinstance(e.code, int) else (0 if e.code is None else 2)
            except Exception as e:  # noqa: BLE001 - a crash is a failed hint, reported, not a traceback
                print(f"cmklab crashed: {type(e).__name__}: {e}", file=sys.stderr)
                rc = 1
        return int(rc or 0), out.getvalue(), err.getvalue()

    return run


def open_lab(engine, home: str | os.PathLike | None = None, *, read_only: bool | None = None) -> Lab | None:
    """The lab being played on ``engine``'s store (None when it holds no lab's progress: ``Lab.state_of``).

    This is what the console's Lab pane calls: ``lab = open_lab(engine)``; then render ``lab.step`` (title,
    narrative), ``lab.hints()``, ``lab.results()`` and bind next/previous. ``home``: unused, kept for callers
    written when the lab was a file of the home (the progress is the store's, and the engine's store is the
    home's). ``read_only`` (default: the engine's mode): the lab never saves.
    """
    state = Lab.state_of(engine)
    if state is None:
        return None
    return Lab.from_state(engine, find_scenario(state.get("file") or state["scenario"]), state, read_only=read_only)


# ================================================================================ playing --auto


@dataclass
class PlayResult:
    ok: bool
    steps_done: int
    failed_step: int | None = None
    """1-based number of the step that failed."""
    unmet: list[str] = field(default_factory=list)
    """Labels of the objectives not met (or the hint that did not behave as expected)."""


def new_landscape(home: Path, scenario: Scenario, *, seed: int | None = None, profile: str | None = None,
                  read_only: bool = False):
    """A fresh seeded engine on ``home`` holding the scenario's landscape, and its lab (saved). ``read_only``: the
    store is opened read-only, and so refuses (:class:`engine.errors.ReadOnly`) to be created."""
    from console.session import open_engine

    if scenario.profile and profile and profile != scenario.profile:
        raise ScenarioError(f"scenario {scenario.name} is written for the rule profile {scenario.profile!r}; "
                            f"drop --profile {profile}", code="InvalidParameter")
    engine = open_engine(home, seed=scenario.seed if seed is None else seed, profile=scenario.profile or profile,
                         read_only=read_only)
    start_scenario(engine, scenario)
    lab = Lab(engine, scenario, seed=engine.meta.seed, started=engine.now())
    lab.save()
    return engine, lab


def play(lab: Lab, run: Runner, *, skip: Iterable[int] = (), until: int | None = None,
         out: Callable[[str], None] = print, verbose: bool = False) -> PlayResult:
    """Play the lab's steps from the current one: run each hint, then check the step's objectives.

    ``skip``: 1-based step numbers whose hints are not run (their objectives are still checked: this
    is how a test shows an objective failing). ``until``: stop after that step.
    """
    skip = set(skip)
    sc = lab.scenario
    prefix = lab.cmklab  # the hints as a trainee reads them (``--home`` when not the default home)
    last = min(until or lab.total, lab.total)
    while True:
        n = lab.number
        step = lab.step
        out(f"step {n}/{lab.total}  {step.title}")
        if n in skip:
            out("  (skipped)")
        else:
            for hint in step.hints:
                lab.engine.refresh_if_changed()
                text = render_hint(lab.engine, hint.command)
                out(f"  $ {with_prefix(text, prefix)}")
                argv = shlex.split(text)  # run on the lab's home by ``run``: without the shown ``--home``
                rc, stdout, stderr = run(argv[1:])
                message = (stderr.strip() or stdout.strip()).splitlines()
                errors = [ln for ln in message if ln.startswith("ERROR")]
                if verbose and stdout.strip():
                    out("\n".join("    " + ln for ln in stdout.rstrip().splitlines()))
                if hint.refused and rc == 2:
                    out("  FAILED: the command is not valid (a usage error, not a refusal): " + " ".join(message[:2]))
                    return PlayResult(False, n - 1, n, [f"valid command: {text}"])
                if hint.refused:
                    message = errors or message
                    if rc == 0:
                        out("  FAILED: this command should have been refused, and it succeeded")
                        return PlayResult(False, n - 1, n, [f"refused as expected: {text}"])
                    out(f"    refused, as expected: {message[0] if message else f'exit {rc}'}")
                elif rc != 0:
                    out(f"  FAILED (exit {rc}): " + ("\n    ".join(message) or "no message"))
                    return PlayResult(False, n - 1, n, [f"command succeeds: {text}"])
        results = lab.check()
        for r in results:
            out("  " + r.line())
        unmet = [r for r in results if not r.met]
        if unmet:
            out(f"{sc.name}: step {n} ({step.title}): objective not met: " + "; ".join(r.label for r in unmet))
            return PlayResult(False, n - 1, n, [r.label for r in unmet])
        if n >= last:
            return PlayResult(True, n)
        lab.next()


# ========================================================================================= CLI


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # noqa: D401 - argparse's hook
        self.print_usage(sys.stderr)
        print(f"cmklab scenario: error: {message}", file=sys.stderr)
        raise SystemExit(2)


def parser() -> argparse.ArgumentParser:
    """``cmklab scenario``'s parser (a branch of ``console.main``'s tree)."""
    p = _Parser(prog="cmklab scenario", description="Workshop scenarios: a landscape, steps, objectives.")
    sub = p.add_subparsers(dest="verb", metavar="{list,run,check,show,reset-step,next}")
    lp = sub.add_parser("list", help="the scenarios shipped with cmklab")
    lp.add_argument("--names", action="store_true", help="print only the names")
    rp = sub.add_parser("run", help="start a scenario in the home (a fresh landscape)")
    rp.add_argument("name", help="a scenario's name (cmklab scenario list), or your own scenario file (.toml)")
    rp.add_argument("--auto", action="store_true", help="play every hint headless and check each step")
    rp.add_argument("--reset", action="store_true", help="replace the state already in the home")
    rp.add_argument("--until", type=int, metavar="N", help="with --auto: stop after step N")
    rp.add_argument("--skip", type=int, action="append", default=[], metavar="N",
                    help="with --auto: do not run step N's hints (shows what the checks catch)")
    rp.add_argument("--verbose", "-v", action="store_true", help="with --auto: show each command's output")
    rp.add_argument("--no-console", action="store_true", help="set up and print the first step; do not open the "
                                                               "console")
    sub.add_parser("check", help="check the current step's objectives; move on when they are met")
    sp = sub.add_parser("show", help="print the current step, its hints and objectives; or, given a scenario, "
                                     "what it is about and its steps")
    sp.add_argument("name", nargs="?", help="a scenario's name or number (cmklab scenario list), or your own "
                                            "scenario file (.toml): shown without starting it")
    sub.add_parser("reset-step", help="put the landscape back as it was when the current step began (a fresh "
                                      "landscape, the earlier steps' hints replayed): for a step that can no "
                                      "longer be met")
    sub.add_parser("next", help="move on to the next step without meeting this one (as the console's > does): "
                                "for a step you are already past")
    return p


def run_scenario_cli(argv: list[str], **opts) -> int:
    """``cmklab scenario ...``; ``opts`` are cmklab's global options (home, seed, profile, read_only)."""
    args = parser().parse_args(list(argv))
    try:
        if args.verb in (None, "list"):
            return _list(getattr(args, "names", False))
        if args.verb == "run":
            return _run(args, opts)
        if args.verb == "show" and args.name:
            return _show_scenario(find_scenario(args.name))
        if args.verb in ("check", "show"):
            return _check(opts, show_only=args.verb == "show")
        if args.verb == "reset-step":
            return _reset_step(opts)
        if args.verb == "next":
            return _next(opts)
    except EngineError as err:
        print(f"ERROR: ({err.display_code}) {err.message}", file=sys.stderr)
        return 3 if err.status == 404 else 1
    return 2  # pragma: no cover


def _list(names: bool) -> int:
    all_ = scenarios()
    if names:
        for s in all_:
            print(s.name)
        return 0
    width = max(len(s.name) for s in all_)
    for s in all_:
        print(f"{s.order:>2}  {s.name:<{width}}  {len(s.steps)} steps  {s.title}")
    print("\nStart one: cmklab --home DIR scenario run NAME   (add --auto to watch it played)")
    return 0


def _show_scenario(sc: Scenario) -> int:
    """``cmklab scenario show NAME``: what a scenario is about and its steps, without a home (nothing is built)."""
    print(f"{sc.order:>2}  {sc.name}: {sc.title}  ({len(sc.steps)} steps, seed {sc.seed}"
          + (f", rules profile {sc.profile}" if sc.profile else "") + ")")
    print()
    print("\n".join(wrap_text(sc.summary, text_width())))
    print()
    for i, step in enumerate(sc.steps, 1):
        print(f"  step {i}: {step.title}")
    name = shlex.quote(sc.path) if sc.path else sc.name
    print(f"\nStart it: cmklab --home DIR scenario run {name}   (add --auto to watch it played)")
    return 0


def _run(args, opts: dict) -> int:
    """A read-only session (``--read-only``) is refused by the store, opened in that mode: a new home cannot be
    created, and a home's state is not replaced (``--reset``)."""
    sc = find_scenario(args.name)
    until = [] if args.until is None else [args.until]
    bad = [f"--{flag} {n}" for flag, ns in (("skip", args.skip), ("until", until)) for n in ns
           if not 1 <= n <= len(sc.steps)]
    if bad:  # a step the scenario does not have: a usage error, before the home is touched
        parser().print_usage(sys.stderr)
        print(f"cmklab scenario: error: {', '.join(bad)}: {sc.name} has steps 1 to {len(sc.steps)}", file=sys.stderr)
        return 2
    home = _home(opts)
    read_only = bool(opts.get("read_only"))
    if home_has_state(home):
        if not args.reset:
            print(f"cmklab scenario run: {home} already holds a cmklab state; a scenario starts from a fresh "
                  f"landscape. Use another --home, or add --reset to replace it (this deletes that state).",
                  file=sys.stderr)
            return 1
        _refused_by_store(home, read_only, "replacing its state with a scenario's landscape (--reset)")
        reset_home(home)
    engine, lab = new_landscape(home, sc, seed=opts.get("seed"), profile=opts.get("profile"), read_only=read_only)
    print(f"Scenario {sc.name}: {sc.title}  (seed {lab.seed}, home {home})")
    if args.auto:
        run = cli_runner(home, engine=engine)
        try:
            result = play(lab, run, until=args.until, skip=args.skip, verbose=args.verbose)
        finally:
            engine.close()
        if result.ok:
            done = "all" if result.steps_done == lab.total else f"{result.steps_done} of"
            print(f"{sc.name}: {done} {lab.total} steps done, every objective met.")
            return 0
        print(f"{sc.name}: stopped at step {result.failed_step}: not met: {'; '.join(result.unmet)}",
              file=sys.stderr)
        return 1
    print()
    print("\n".join(wrap_text(sc.summary, text_width())))
    print()
    print("\n".join(lab.lines()))
    print(f"\nWhen you have done it: {lab.command('scenario check')}")
    engine.close()
    if not args.no_console and sys.stdin.isatty() and sys.stdout.isatty():
        from .glue import open_console

        return open_console(home)
    return 0


def _no_lab(home: Path) -> int:
    """Says on stderr that no scenario is being played in ``home``; the exit code."""
    print(f"cmklab scenario: no scenario is being played in {home}; start one with {cmklab_prefix(home)} "
          "scenario run NAME", file=sys.stderr)
    return 2


def _open_home_lab(opts: dict):
    """``(home, engine, lab)`` of the home the options name; ``lab`` None (and no engine left open) when the
    home holds no state (opening it would create one) or plays no scenario: the caller says so (``_no_lab``)."""
    from console.session import open_engine

    home = _home(opts)
    if not home_has_state(home):
        return home, None, None
    engine = open_engine(home, read_only=bool(opts.get("read_only")))
    lab = open_lab(engine)
    if lab is None:
        engine.close()
    return home, engine, lab


def _check(opts: dict, *, show_only: bool) -> int:
    home, engine, lab = _open_home_lab(opts)
    if lab is None:
        return _no_lab(home)
    try:
        if show_only:
            print("\n".join(lab.lines()))
            return 0
        if lab.finished:
            print(f"{lab.scenario.title}: complete, all {lab.total} steps done.")
            print("\n".join(lab.lines(with_narrative=False)))
            return 0
        n = lab.number
        results = lab.check(advance=True)
        print(f"{lab.scenario.title}: step {n}/{lab.total}: {lab.steps[n - 1].title}")
        for r in results:
            print("  " + r.line())
        stuck = lab.stuck(results)
        if stuck:
            print(f"\nThis step can no longer be met: {'; '.join(r.label for r in stuck)} ({stuck[0].detail}).")
            print(lab.reset_advice())
            print(f"  (a fresh landscape, steps 1 to {n - 1} replayed from their hints; what you did since is undone)"
                  if n > 1 else "  (a fresh landscape; what you did since is undone)")
            if n < lab.total:
                print(f"Or leave it and move on: {lab.command('scenario next')}")
            return 1
        if not all(r.met for r in results):
            print(f"Not yet: do the step ({lab.command('scenario show')} prints its hints), then check again.")
            if n < lab.total:
                print(f"Already past it (this step's state is behind you)? Move on: {lab.command('scenario next')}")
            return 1
        if lab.finished:
            print(f"Scenario complete: all {lab.total} steps done.")
        elif lab.number != n:
            print("\nStep complete. Next:\n")
            print("\n".join(lab.lines()))
        return 0
    finally:
        engine.close()


def _next(opts: dict) -> int:
    """``cmklab scenario next``: the next step, whether or not the current one was met (the console's ``>``):
    a trainee who went ahead of a step (started the VM the step wants refused) is not stuck on it."""
    home, engine, lab = _open_home_lab(opts)
    if lab is None:
        return _no_lab(home)
    try:
        if lab.number >= lab.total:
            print(f"cmklab scenario next: step {lab.number}/{lab.total} is the last step of {lab.scenario.name}",
                  file=sys.stderr)
            return 1
        engine.refuse_if_read_only("moving to the next step")
        skipped = lab.number
        lab.next()
        print(f"Step {skipped} left " + ("complete." if skipped - 1 in lab.completed else "not met (skipped).")
              + " Next:\n")
        print("\n".join(lab.lines()))
        print(f"\nWhen you have done it: {lab.command('scenario check')}")
        return 0
    finally:
        engine.close()


def _reset_step(opts: dict) -> int:
    """``cmklab scenario reset-step``: the home as it was when the current step began.

    The scenario's landscape is seeded, and its hints are the steps' reference solution: a fresh
    landscape with the hints of the steps before the current one replayed (as ``run --auto --until``
    does) is the state the step was written for, ids and key material included. It is built in a
    scratch home first and moved into place only once every earlier step's objectives are met there,
    so a replay that fails leaves the home as it was."""
    home, engine, lab = _open_home_lab(opts)
    if lab is None:
        return _no_lab(home)
    try:
        engine.refuse_if_read_only("putting the current step back (reset-step)")
        sc, n, seed, profile = lab.scenario, lab.number, lab.seed, engine.rules.name
        completed = {i for i in lab.completed if i < lab.index}
    finally:
        engine.close()
    scratch = home / ".reset-step"
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir(parents=True)
    if (home / "root.key").exists():  # the same root key: what it seals opens in the home too
        shutil.copy2(home / "root.key", scratch / "root.key")
    log: list[str] = []
    try:
        engine, fresh = new_landscape(scratch, sc, seed=seed, profile=profile)
        try:
            result = play(fresh, cli_runner(scratch, engine=engine), until=n - 1, out=log.append) \
                if n > 1 else PlayResult(True, 0)
        finally:
            engine.close()
        if not result.ok:
            print(f"cmklab scenario reset-step: the steps before step {n} do not replay (step "
                  f"{result.failed_step}: {'; '.join(result.unmet)}); the home is unchanged.\n"
                  + "\n".join(log[-12:]), file=sys.stderr)
            return 1
        _move_state(scratch, home)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    from console.session import open_engine

    engine = open_engine(home)
    try:
        lab = Lab(engine, sc, index=n - 1, completed=completed | set(range(n - 1)), seed=seed,
                  started=engine.now())
        lab.save()
        print(f"{sc.title}: back at the start of step {n}/{lab.total}"
              + (f" (steps 1 to {n - 1} replayed from their hints)." if n > 1 else " (a fresh landscape)."))
        print()
        print("\n".join(lab.lines()))
    finally:
        engine.close()
    return 0


def _move_state(src: Path, home: Path) -> None:
    """Put the store built in ``src`` in place of ``home``'s (store.move_state). The lab's progress is saved
    afterwards by the caller, through the engine."""
    from store import move_state

    move_state(src, home)


# ======================================================================================= serve
# ``cmklab serve`` lives in console/workshop/serve.py; kept importable from here.

from .serve import run_serve, serve_command  # noqa: E402,F401

