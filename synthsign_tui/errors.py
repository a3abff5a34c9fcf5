"""User-facing errors: the command line prints them without a traceback and exits with their `exit_code`
(2 for bad input, 1 for a run that failed at run time); the app shows them."""


class SynthSignError(Exception):
    """An error caused by the user's input or environment, worded to say what was wrong and how to fix it."""

    exit_code = 2


class RuntimeFailure(SynthSignError):
    """A failure while running (a full disk, a catalog that cannot be written), not a bad input."""

    exit_code = 1


class ConfigError(SynthSignError):
    """A run configuration that does not validate."""


def shorten(value: object, limit: int = 60) -> str:
    """A value as an error message shows it: repr, cut to about `limit` characters (a 50 MB value stays short)."""
    if isinstance(value, str):
        if len(value) <= limit:
            return repr(value)
        return f"{value[:limit]!r}… ({len(value):,} characters)"
    text = repr(value)
    return text if len(text) <= limit else f"{text[:limit]}… ({len(text):,} characters)"
