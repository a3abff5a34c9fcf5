"""The predictions tab's filter: `wrong`, `right`, `true:CLASS`, `pred:CLASS`, `set:EVALUATION`, and words of
the file name, all of which must hold. Unknown keys are errors that list the allowed ones."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

HELP = "wrong · right · true:CLASS · pred:CLASS · set:EVALUATION · words of the file name"
KEYS = ("true", "pred", "set")


class PredictionFilterError(ValueError):
    pass


def parse(text: str) -> list[Callable[[Any, str], bool]]:
    """Tests of (prediction row, its evaluation's label) for each term of `text`; raises on a bad term."""
    tests: list[Callable[[Any, str], bool]] = []
    for term in text.split():
        word = term.lower()
        if word in ("wrong", "right"):
            want = word == "right"
            tests.append(_verdict(want))
            continue
        key, sep, value = word.partition(":")
        if not sep:
            tests.append(_file_word(word))
            continue
        if key not in KEYS:
            raise PredictionFilterError(f"{term!r}: unknown key {key!r}; use {HELP}")
        if not value:
            raise PredictionFilterError(f"{term!r}: no value after ':'; e.g. {key}:stop")
        if key == "true":
            tests.append(_true_class(value))
        elif key == "pred":
            tests.append(_predicted_class(value))
        else:
            tests.append(_evaluation(value))
    return tests


def _verdict(right: bool) -> Callable[[Any, str], bool]:
    return lambda p, _where: p.correct is right


def _file_word(word: str) -> Callable[[Any, str], bool]:
    return lambda p, _where: word in Path(p.path).name.lower()


def _true_class(value: str) -> Callable[[Any, str], bool]:
    return lambda p, _where: (p.label or "").lower() == value


def _predicted_class(value: str) -> Callable[[Any, str], bool]:
    return lambda p, _where: p.predicted.lower() == value


def _evaluation(value: str) -> Callable[[Any, str], bool]:
    return lambda _p, where: value in where.lower()


def matches(tests: list[Callable[[Any, str], bool]], prediction: Any, where: str) -> bool:
    return all(test(prediction, where) for test in tests)
