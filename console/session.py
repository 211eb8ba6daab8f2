"""Open the engine on a home directory: shared by the CLI and the console, free of textual.

``$CMKLAB_HOME`` (or ``--home``) names the directory; the default is the user data directory of the
platform, from ``platformdirs``: ``$XDG_DATA_HOME/cmklab`` or ``~/.local/share/cmklab`` on Linux,
``~/Library/Application Support/cmklab`` on macOS, ``%LOCALAPPDATA%\\cmklab`` on Windows. ``CMKLAB_SEED``
(or ``--seed``) makes a new store deterministic; ``CMKLAB_PROFILE`` (or ``--profile``) picks its rule profile.
"""

from __future__ import annotations

import os
from datetime import datetime, timezone
from pathlib import Path

from engine import Engine
from engine.errors import EngineError


def default_home() -> Path:
    env = os.environ.get("CMKLAB_HOME")
    if env:
        return Path(env).expanduser()
    import platformdirs  # (here: a command given CMKLAB_HOME or --home does not pay for the import)

    return Path(platformdirs.user_data_dir("cmklab", appauthor=False))


def env_seed() -> int | None:
    raw = os.environ.get("CMKLAB_SEED")
    if raw in (None, ""):
        return None
    try:
        return int(raw)
    except ValueError:
        raise EngineError(f"CMKLAB_SEED={raw!r} is not a whole number", code="InvalidParameter") from None


def open_engine(home: str | os.PathLike | None = None, *, seed: int | None = None, profile: str | None = None,
                demo: bool = False, read_only: bool = False) -> Engine:
    """The engine on ``home``'s store. A new store gets the seed and profile; ``demo`` fills a new one.

    ``read_only``: never create state; a home with none is refused (a projector view of nothing).
    """
    from store import TinyStore

    path = Path(home) if home is not None else default_home()
    seed = seed if seed is not None else env_seed()
    asked = profile
    profile = profile or os.environ.get("CMKLAB_PROFILE") or None
    from store import has_state

    if read_only and not has_state(path):
        raise EngineError(f"the home {path} holds no state yet, and a read-only session cannot create it; "
                          f"open it once without --read-only (or run: cmklab --home {path} demo)",
                          code="ReadOnly")
    store = TinyStore(path, read_only=read_only)
    fresh = store.generation == 0  # (not load(): the engine takes the parse the store made when it opened)
    start = None
    if seed is None and fresh:
        # unseeded stores start their simulated clock at the wall clock; seeded ones at a fixed instant
        start = datetime.now(timezone.utc).replace(microsecond=0)
    try:
        engine = Engine(store, seed=seed, profile=profile, start=start)
    except BaseException:
        store.close()
        raise
    if asked and not fresh and engine.rules.name != asked:  # the rules are the home's, chosen when it was created
        import sys

        print(f"WARNING: --profile {asked} applies to a new home; {path} keeps the rule profile it was created "
              f"with: {engine.rules.name}", file=sys.stderr)
    if fresh and demo:
        from engine.demo import build_demo

        build_demo(engine)
    return engine
