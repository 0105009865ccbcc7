"""Ctrl-C and SIGTERM as exceptions that unwind a stage, but never from inside a write to the tracking store.

An interrupt raised inside SQLAlchemy can leave the process's SQLite connection holding its lock; the same
process then waits on itself for good when it closes its runs (seen: a train stage that SIGTERM did not end).
So store writes run in `deferred()` sections, and an interrupt that arrives in one is raised as it ends.
Once an interrupt has been raised, later ones are ignored: a worker gets Ctrl-C from the terminal and SIGTERM
from its stage, and the second must not cut short the closing of its runs. SIGKILL still ends any process.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from depthlab.errors import Terminated

_open_sections = 0
_pending: int | None = None
_raised = False


def install() -> None:
    """SIGTERM raises Terminated and SIGINT KeyboardInterrupt in the main thread; forked workers inherit this."""
    signal.signal(signal.SIGTERM, _on_signal)
    # Ctrl-C interrupts even where the stage inherited SIGINT ignored (a shell starts background jobs so).
    signal.signal(signal.SIGINT, _on_signal)


def _on_signal(signum: int, frame: object) -> None:
    global _pending
    if _raised:
        return
    if _open_sections:
        _pending = _pending or signum
        return
    _raise(signum)


def _raise(signum: int) -> None:
    global _raised
    _raised = True
    if signum == signal.SIGTERM:
        raise Terminated("terminated by SIGTERM")
    raise KeyboardInterrupt


@contextmanager
def deferred() -> Iterator[None]:
    """A section (or, as a decorator, a function) that an interrupt does not cut: it is raised at the end."""
    global _open_sections, _pending
    if threading.current_thread() is not threading.main_thread():
        yield  # Python runs signal handlers in the main thread only: other threads are never interrupted
        return
    _open_sections += 1
    try:
        yield
    finally:
        _open_sections -= 1
        if not _open_sections and _pending:
            signum, _pending = _pending, None
            _raise(signum)
