"""User-facing errors: the command line prints them without a traceback and exits 2; the app shows them."""


class SynthSignError(Exception):
    """An error caused by the user's input or environment, worded to say what was wrong and how to fix it."""


class ConfigError(SynthSignError):
    """A run configuration that does not validate."""
