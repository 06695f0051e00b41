"""Who waits and who paints: the page's line, its cancel flags, and the queue sentence.

All queue and cancel state of the web app lives here, behind a few calls:

  join(session, flt) -> ticket     Paint pressed: the session waits in line (handlers.instant)
  sentence(session) -> str         "2 paintings ahead of yours, about 40 s" (handlers.instant)
  admit(session, ticket) -> bool   its turn came: paint only the latest uncancelled press (handlers.paint)
  start(session, flt) -> run_id    its painting starts (handlers.paint)
  finish(session, run_id)          ... and ended, however it ended (handlers.paint)
  measured(flt, seconds)           a finished painting's speed, for the estimate (handlers.paint)
  cancel(session) -> state         Cancel: "waiting", "running" or None (handlers.stop)
  running() -> {session: run_id}   the paintings under way (tests)

and, per painting, the flag its worker checks (zerogpu.stylize_stream):

  flag(run_id) -> Event, release(run_id), cancel_run(run_id), cancel_all()

A painting waits in Gradio's queue as its own event, which Cancel does not remove: the
ticket is what keeps a painting cancelled while it waited from running when its turn comes.
"""

from __future__ import annotations

import threading
import time
import uuid

from stylizer import Filter
from webapp.settings import RECENT_PAINTINGS, TYPICAL_SECONDS_PER_UNIT, WAITING_MAX_S

_running: dict[str, str] = {}  # session -> run id of its current painting
_waiting: dict[str, float] = {}  # session -> when it pressed Paint, until its painting starts
_tickets: dict[str, str] = {}  # session -> the ticket of its latest press whose painting has not started
_work: dict[str, float] = {}  # session -> its painting's size in iterations x pixels, queued or running
_seconds_per_unit: list[float] = []  # measured on recent paintings, for the queue estimate
_cancel_flags: dict[str, threading.Event] = {}  # run id -> the flag its painting checks


def _work_units(flt: Filter) -> float:
    return float(flt.iterations * flt.size * flt.size)


def join(session: str, flt: Filter) -> str:
    """Paint pressed: `session` waits in line with `flt`'s work; the ticket its painting shows."""
    _waiting[session] = time.monotonic()
    _work[session] = _work_units(flt)
    ticket = _tickets[session] = uuid.uuid4().hex
    return ticket


def admit(session: str, ticket: str | None) -> bool:
    """Its turn: True (and out of the waiting line) only for the session's latest press, not cancelled."""
    if ticket is None or _tickets.get(session) != ticket:
        return False
    del _tickets[session]
    _waiting.pop(session, None)
    return True


def start(session: str, flt: Filter) -> str:
    """The session's painting starts: its run id, which names its cancel flag."""
    run_id = uuid.uuid4().hex
    _running[session] = run_id
    _work[session] = _work_units(flt)
    return run_id


def finish(session: str, run_id: str) -> None:
    """The painting `run_id` ended (done, stopped, failed or abandoned)."""
    if _running.get(session) == run_id:
        del _running[session]
        if session not in _waiting:  # Paint pressed again meanwhile: that request's size stays
            _work.pop(session, None)


def measured(flt: Filter, seconds: float) -> None:
    """A finished painting of `flt` took `seconds`: the queue estimate follows the measured speed."""
    _seconds_per_unit.append(seconds / _work_units(flt))
    del _seconds_per_unit[:-RECENT_PAINTINGS]


def cancel(session: str) -> str | None:
    """Cancel pressed: "waiting" (its painting will never start), "running" (its flag is set;
    on ZeroGPU, Gradio's cancel closes the stream) or None (nothing to cancel)."""
    _tickets.pop(session, None)  # a painting still waiting in line never starts
    if _waiting.pop(session, None) is not None:
        _work.pop(session, None)
        return "waiting"
    run_id = _running.get(session)
    if run_id is None:
        return None
    cancel_run(run_id)
    return "running"


def running() -> dict[str, str]:
    """The paintings under way: session -> run id."""
    return dict(_running)


def sentence(session: str) -> str:
    """'2 paintings ahead of yours, about 40 s': the work ahead and yours, at the measured speed."""
    _forget_abandoned()
    pressed = _waiting.get(session, time.monotonic())
    ahead = [other for other in _running if other != session]
    ahead += [other for other, when in _waiting.items() if other != session and when < pressed]
    if not ahead:
        return "painting the full version now"
    recent = _seconds_per_unit[-RECENT_PAINTINGS:]
    rate = sum(recent) / len(recent) if recent else TYPICAL_SECONDS_PER_UNIT
    seconds = rate * (sum(_work.get(other, 0.0) for other in ahead) + _work.get(session, 0.0))
    paintings = "painting" if len(ahead) == 1 else "paintings"
    return f"{len(ahead)} {paintings} ahead of yours, about {seconds:.0f} s"


def _forget_abandoned() -> None:
    """A tab closed between its instant painting and its turn never starts painting: after
    WAITING_MAX_S its place in line no longer counts."""
    too_old = time.monotonic() - WAITING_MAX_S
    for session in [s for s, when in _waiting.items() if when < too_old]:
        _waiting.pop(session, None)
        _tickets.pop(session, None)
        if session not in _running:
            _work.pop(session, None)


# -- per painting: the flag its worker checks --------------------------------------------


def flag(run_id: str) -> threading.Event:
    """The cancel flag of painting `run_id`, in the process that paints it."""
    return _cancel_flags.setdefault(run_id, threading.Event())


def release(run_id: str) -> None:
    """The painting's stream ended (its worker has been told to stop): its flag is forgotten."""
    _cancel_flags.pop(run_id, None)


def cancel_run(run_id: str) -> None:
    flag_ = _cancel_flags.get(run_id)
    if flag_ is not None:
        flag_.set()


def cancel_all() -> None:
    """At exit: every painting of this process stops at its next check."""
    for flag_ in list(_cancel_flags.values()):
        flag_.set()
