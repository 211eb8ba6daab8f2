"""``python -m console.workshop scenario ...`` / ``serve ...``."""

from .glue import main

raise SystemExit(main())
