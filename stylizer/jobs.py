"""A painting as a job with one owner: its state, budget, place in line and updates.

Every painting of the page, the API and the daemon is a `Job` with an owner (a browser
session, an API caller, a daemon photo), a state (waiting, running, done, cancelled,
failed) and a `Budget`. Jobs wait, start, batch and end in one `scheduler.Scheduler`; this
module is what a job's owner holds: `cancel()` in any state, and `updates()` (or
`aupdates()` from asyncio) to follow it: `Ahead` while it waits, `Progress` while it runs,
then its `Result`.
"""

from __future__ import annotations

import asyncio
import contextvars
import threading
import time
import uuid
from collections import deque
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from enum import Enum
from typing import TYPE_CHECKING

from . import images
from .errors import Cancelled, StylizerError
from .filter import Filter
from .masks import Mask
from .quality import for_quality
from .transfer import CancelCheck, plan_scales

if TYPE_CHECKING:
    from .scheduler import Scheduler

WAIT_POLL_S = 0.2  # how often a caller's blocking wait looks at its own cancel check


class State(str, Enum):
    WAITING = "waiting"
    RUNNING = "running"
    DONE = "done"
    CANCELLED = "cancelled"
    FAILED = "failed"


ENDED = (State.DONE, State.CANCELLED, State.FAILED)


class BudgetExceeded(StylizerError):
    """A job asked for more than its budget allows, or ran longer than it allows."""


class LineFull(StylizerError):
    """More paintings are waiting than the server lets wait at once."""


@dataclass(frozen=True)
class Budget:
    """Limits per job and per owner; None is no limit.

    A public page needs them: without a limit on seconds one API call with 100000 iterations
    held the only painting slot until the server was restarted. `names` says, per limit, the
    setting a person can change it with, so a refusal can name it.
    """

    max_side: int | None = None  # px, the painting's long side
    max_iterations: int | None = None  # over the whole schedule
    max_seconds: float | None = None  # running time; the painting is stopped past it
    max_waiting: int | None = None  # jobs one owner may have waiting or running at once
    names: dict[str, str] = field(default_factory=dict, compare=False)

    def check(self, filter: Filter, quality: str) -> None:
        """Refuse a job past this budget, with one line naming the limit."""
        run = for_quality(filter, quality)
        if self.max_side is not None and run.size > self.max_side:
            raise BudgetExceeded(f"size {run.size} px is over this server's limit of {self.max_side} px{self._name('max_side')}")
        iterations = 0 if quality == "instant" else run.iterations
        if self.max_iterations is not None and iterations > self.max_iterations:
            raise BudgetExceeded(
                f"{iterations} iterations is over this server's limit of {self.max_iterations}{self._name('max_iterations')}")

    def _name(self, limit: str) -> str:
        return f" ({self.names[limit]})" if limit in self.names else ""


UNLIMITED = Budget()


@dataclass(frozen=True)
class Ahead:
    """Where a waiting job stands: `position` jobs before it (running ones included), and
    about how many seconds until it starts (None until this device has a measured speed)."""

    position: int
    start_in: float | None

    def sentence(self) -> str:
        """'2 paintings ahead of yours; yours starts in about 40 s'."""
        if self.position == 0:
            return "yours starts now"
        paintings = "painting" if self.position == 1 else "paintings"
        when = f"; yours starts in about {self.start_in:.0f} s" if self.start_in is not None else ""
        return f"{self.position} {paintings} ahead of yours{when}"


class Job:
    """One painting asked by one owner; `cancel()` works in every state.

    `updates()` is how its owner follows it: `Ahead` while it waits (again whenever the line
    moves), `Progress` while it runs, then its `Result`; an error ends the stream raised.
    """

    def __init__(self, photo: images.Image.Image, filter: Filter, quality: str, owner: str, mask: Mask | None,
                 preview_every: int, budget: Budget, since: float, context: contextvars.Context | None,
                 follow_within: float | None = None) -> None:
        self.id = uuid.uuid4().hex
        self.submitted = time.monotonic()
        self.follow_within = follow_within  # seconds its owner has to start following it
        self.followed = False
        self.photo, self.filter, self.quality, self.owner, self.mask = photo, filter, quality, owner, mask
        self.preview_every, self.budget, self.since, self.context = preview_every, budget, since, context
        self.state = State.WAITING
        self.result = None
        self.error: BaseException | None = None
        self.started: float | None = None
        self.ended: float | None = None
        self.work = work_units(photo.size, filter, quality)
        self._stop = threading.Event()
        self._changed = threading.Condition()
        self._events: deque = deque()
        self._scheduler: Scheduler | None = None
        self._batch: list[Job] = []  # the jobs it runs with, itself included
        self._told: Ahead | None = None

    def cancel(self) -> None:
        """Stop this job: taken out of the line if it waits, stopped at the next iteration if it runs."""
        self._stop.set()
        if self._scheduler is not None:
            self._scheduler._withdraw(self)

    @property
    def cancelled(self) -> bool:
        return self._stop.is_set()

    def _should_stop(self) -> bool:
        """The painter's per-iteration check: cancelled, abandoned, or past the budget's running time."""
        if self._stop.is_set() or self.abandoned:
            return True
        limit = self.budget.max_seconds
        return limit is not None and self.started is not None and time.monotonic() - self.started > limit

    @property
    def abandoned(self) -> bool:
        """Nobody came to follow it in time: an owner that submitted and went away (a page
        whose stream never opened, a client that died between two calls)."""
        return (self.follow_within is not None and not self.followed
                and time.monotonic() - self.submitted > self.follow_within)

    def _post(self, item: object) -> None:
        with self._changed:
            self._events.append(item)
            self._changed.notify_all()

    def _end(self, state: State, result=None, error: BaseException | None = None) -> None:
        with self._changed:
            if self.state in ENDED:
                return
            self.state, self.result, self.error, self.ended = state, result, error, time.monotonic()
            self._changed.notify_all()

    def next_update(self, timeout: float | None = None) -> object | None:
        """The next thing to tell the owner, or None when nothing happened within `timeout`
        (a streaming caller uses that pause to notice that its own client went away)."""
        self.followed = True
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            with self._changed:
                if self._events:
                    return self._events.popleft()
                if self.state in ENDED:
                    return EndOfUpdates()
                waiting = self.state is State.WAITING and self._scheduler is not None
            if waiting:  # asked without this job's lock: the scheduler ends jobs under its own
                ahead = self._scheduler.ahead(self)
                if ahead != self._told:
                    self._told = ahead
                    return ahead
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                return None
            with self._changed:
                if not self._events and self.state not in ENDED:
                    self._changed.wait(timeout=1.0 if remaining is None else min(1.0, remaining))

    def updates(self, heartbeat: float | None = None) -> Iterator[object]:
        """`Ahead`, `Progress` ... then the `Result`; raises the job's error instead. With
        `heartbeat`, yields None after that many quiet seconds."""
        while True:
            item = self.next_update(heartbeat)
            if isinstance(item, EndOfUpdates):
                yield self._outcome()
                return
            if item is not None or heartbeat is not None:
                yield item

    async def aupdates(self, heartbeat: float = 1.0, poll: float = 0.1) -> AsyncIterator[object]:
        """`updates` for an asyncio caller (a Gradio handler): no thread is held while the job
        waits, so a long line does not use up the server's threads. Yields None after
        `heartbeat` quiet seconds, which is when a streaming handler notices a client that
        went away (Gradio closes the handler's generator then, and its cleanup cancels)."""
        quiet = 0.0
        while True:
            item = self.next_update(timeout=0)
            if isinstance(item, EndOfUpdates):
                yield self._outcome()
                return
            if item is not None:
                quiet = 0.0
                yield item
                continue
            if quiet >= heartbeat:
                quiet = 0.0
                yield None
            await asyncio.sleep(poll)
            quiet += poll

    def _outcome(self):
        """The ended job's Result, or its error raised."""
        if self.state is State.DONE:
            return self.result
        raise self.error if self.error is not None else Cancelled("painting cancelled")

    def wait(self, cancel: CancelCheck | None = None):
        """Block until the job ends; its Result, or its error raised. `cancel` (the caller's
        own check, polled) cancels the job."""
        self.followed = True
        with self._changed:
            while self.state not in ENDED:
                if cancel is not None and cancel():
                    break
                self._changed.wait(timeout=WAIT_POLL_S)
        if self.state not in ENDED:
            self.cancel()
            with self._changed:
                self._changed.wait_for(lambda: self.state in ENDED)
        return self._outcome()

    def _notify(self) -> None:
        with self._changed:
            self._changed.notify_all()


class EndOfUpdates:
    """What `Job.next_update` returns once the job has ended and everything was told."""


def work_units(size: tuple[int, int], filter: Filter, quality: str) -> float:
    """A job's cost in pixel-iterations over its schedule: what the speed estimate scales by.
    An instant painting counts as one iteration at its size."""
    run = for_quality(filter, quality)
    if quality == "instant":
        return float(run.size * run.size)
    return float(sum(s.width * s.height * s.iterations for s in plan_scales(*size, run.size, run.scales, run.iterations)))


__all__ = ["Ahead", "Budget", "BudgetExceeded", "ENDED", "EndOfUpdates", "Job", "LineFull", "State", "UNLIMITED", "work_units"]
