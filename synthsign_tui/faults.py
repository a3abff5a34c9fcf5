"""Test-only fault injection: stop the process at a named write point, to prove that a run survives it.

`SYNTHSIGN_FAULT=<point>:<n>[:<action>]` makes the n-th call (from 1) of `fault_point("<point>")` in this
process either kill the process at once with SIGKILL (`kill`, the default: as a power cut or `kill -9` would)
or raise OSError(ENOSPC) (`enospc`: as a full disk would). Unset, `fault_point` costs one dictionary lookup.
Never set it outside tests. The points are listed in `POINTS`; tests/engine/test_faults.py kills a run at each.
"""

from __future__ import annotations

import errno
import os
import signal
from collections import Counter

POINTS = (
    "generate.image",  # an image file written, not yet in the catalog nor the manifest
    "generate.samples",  # a batch's images recorded in the catalog, not yet in the manifest
    "generate.manifest",  # a batch's images in the manifest
    "train.steps",  # step losses recorded
    "train.checkpoint-temp",  # a checkpoint written under its temporary name, not yet renamed
    "train.checkpoint",  # an epoch's last.pt written, its epoch row not yet recorded
    "train.epoch",  # an epoch row recorded
    "evaluate.record",  # one evaluation and its predictions recorded
)
ENV = "SYNTHSIGN_FAULT"
_hits: Counter[str] = Counter()


def fault_point(name: str) -> None:
    """Do what SYNTHSIGN_FAULT asks when this is its point's n-th hit; nothing otherwise."""
    spec = os.environ.get(ENV)
    if not spec:
        return
    point, _, rest = spec.partition(":")
    if point != name:
        return
    count, _, action = rest.partition(":")
    _hits[name] += 1
    if _hits[name] != int(count or 1):
        return
    if action == "enospc":
        raise OSError(errno.ENOSPC, f"No space left on device (injected by {ENV}={spec})")
    os.kill(os.getpid(), signal.SIGKILL)
