"""`python -m synthsign_tui` is the `synthsign` command."""

from synthsign_tui.cli import main

raise SystemExit(main())
