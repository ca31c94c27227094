"""``python -m identitylib``: the command line."""

from identitylib._cli import main

raise SystemExit(main())
