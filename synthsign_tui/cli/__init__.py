"""The `synthsign` command line: subcommands over the engine and the catalog."""

from synthsign_tui.cli.main import main

__all__ = ["main"]
