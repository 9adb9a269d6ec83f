"""How the runner is interrupted: Ctrl-C (SIGINT), SIGTERM and SIGHUP alike.

The first signal stops the run: it raises `Interrupted` (a KeyboardInterrupt, so every `except
KeyboardInterrupt` handles all three), except inside `shielded()`, where engine objects are being
made, watched and removed: there it is only recorded, and the code polls `requested()` at points
where everything it made is known, so nothing is lost half-created or half-removed. A second
signal never raises (an exception then would skip the cleanup, the summary and the result files):
it sets `hurried()`, and containers being stopped are killed at once.

The handlers are installed around a CLI command only (`handled`), so code used as a library, and
the tests, keep Python's own Ctrl-C.

`CURSUS_LOCAL_TEST_PAUSE=<moment>` is a hook for tests only (tests/test_signals.py): at that moment
of a job (create: the engine has made a container the runner has not recorded yet; start: created,
not started; run: started; stop: stopping) the backend prints `cursus-local-test: at <moment>` on
stderr and, except at `run`, waits up to a minute for a signal, so that a test hits that moment
exactly.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator

SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
PAUSE_ENV = "CURSUS_LOCAL_TEST_PAUSE"

# Plain attributes, set by the handler: a handler must not take locks (threading.Event.set does)
_received: int | None = None     # the first signal
_hurried = False                 # a second one came
_shield_depth = 0                # main thread inside shielded()
_say: Callable[[str], None] = lambda text: None


class Interrupted(KeyboardInterrupt):
    def __init__(self, signum: int = signal.SIGINT):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def received() -> int | None:
    """The signal that interrupted the run, if one did."""
    return _received


def requested() -> bool:
    return _received is not None


def hurried() -> bool:
    """A second signal came: stop waiting, kill."""
    return _hurried


def exit_code() -> int:
    """128 + the signal's number, as a shell reports a process ended by it (130, 143, 129)."""
    return 128 + (_received or signal.SIGINT)


def signal_name(signum: int | None) -> str:
    return "Ctrl-C" if signum in (None, signal.SIGINT) else signal.Signals(signum).name


def say(text: str) -> None:
    """Tell the user what an interrupted run is doing (stderr, from the CLI; silent elsewhere)."""
    _say(text)


def _handler(signum, frame):
    global _received, _hurried
    if _received is not None:
        _hurried = True
        say(f"{signal_name(signum)} again: killing the containers now")
        return
    _received = signum
    if _shield_depth == 0:
        raise Interrupted(signum)


@contextlib.contextmanager
def handled(tell: Callable[[str], None]) -> Iterator[None]:
    """SIGINT, SIGTERM and SIGHUP handled as above while the block runs (main thread only)."""
    global _received, _hurried, _say
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    _received, _hurried, _say = None, False, tell
    previous = {s: signal.signal(s, _handler) for s in SIGNALS}
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
        # forgotten: a later command in this process (CliRunner, tests) starts afresh
        _received, _hurried, _say = None, False, lambda text: None


@contextlib.contextmanager
def shielded() -> Iterator[None]:
    """Inside, a first signal is recorded, not raised: the block polls `requested()` instead."""
    global _shield_depth
    main = threading.current_thread() is threading.main_thread()
    if main:
        _shield_depth += 1
    try:
        yield
    finally:
        if main:
            _shield_depth -= 1


def pause(moment: str) -> None:
    """The test hook (see the module's docstring); nothing unless CURSUS_LOCAL_TEST_PAUSE names `moment`."""
    if os.environ.get(PAUSE_ENV) != moment:
        return
    print(f"cursus-local-test: at {moment}", file=sys.__stderr__, flush=True)   # not a live view's
    if moment == "run":
        return
    already = requested()   # stopping because of a signal: wait for the second one
    deadline = time.time() + 60
    while time.time() < deadline and not (hurried() if already else requested()):
        time.sleep(0.02)
