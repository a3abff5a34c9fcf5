"""The one definition of a run's headline accuracy, shared by training, evaluation and the benchmark.

A task's classes are the user's; the internal background ("no sign") class is not one of them. Accuracy is
measured on images of the task's classes only, a prediction of any other class (background) counts as
wrong, and the headline is the balanced accuracy: the mean recall over the task's classes present.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence


def task_balanced_accuracy(
    y_true: Sequence[Hashable], y_pred: Sequence[Hashable], task: Sequence[Hashable]
) -> float | None:
    """Mean recall over the classes of `task` that occur in `y_true`; None when none occurs."""
    recalls = []
    for cls in task:
        hits = [p == cls for t, p in zip(y_true, y_pred, strict=True) if t == cls]
        if hits:
            recalls.append(sum(hits) / len(hits))
    return sum(recalls) / len(recalls) if recalls else None


def task_accuracy(
    y_true: Sequence[Hashable], y_pred: Sequence[Hashable], task: Sequence[Hashable]
) -> float | None:
    """Plain accuracy over the images whose true class is in `task`; None when there are none."""
    scored = [t == p for t, p in zip(y_true, y_pred, strict=True) if t in set(task)]
    return sum(scored) / len(scored) if scored else None
