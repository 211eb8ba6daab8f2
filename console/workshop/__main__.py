"""``python -m console.workshop [GLOBAL OPTIONS] scenario|serve ...``: the ``cmklab`` program."""

from .glue import main

raise SystemExit(main())
