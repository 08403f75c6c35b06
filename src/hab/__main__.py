"""`python -m hab` is the `hab` command."""

from hab.cli import main

raise SystemExit(main())
