"""Helpers for driving the app under a Pilot: wait for workers, or for a condition, always within a bound."""

import time


async def settle(app, pilot, idle: float = 0.0):
    """Let workers and the messages they post run out (each load may start the next), within a bound; then
    `idle` seconds more for what widgets measure on idle (DataTable column widths) before a screenshot."""
    deadline = time.monotonic() + 10
    while getattr(app, "catalog", True) is None and time.monotonic() < deadline:
        await pilot.pause(0.01)  # the app opens its catalog after the first frame
    quiet = 0
    for _ in range(50):
        await pilot.pause()
        busy = any(w.is_running for w in app.workers)
        await app.workers.wait_for_complete()
        quiet = 0 if busy else quiet + 1
        if quiet == 2:
            break
    if idle:
        await pilot.pause(idle)


async def wait_until(pilot, condition, seconds: float = 10.0):
    """Let the app run until `condition()` holds, at most `seconds`."""
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await pilot.pause(0.1)
