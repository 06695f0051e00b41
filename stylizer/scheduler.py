"""The one place where paintings wait, start, batch, stop and finish.

Every painting is a `jobs.Job` with an owner, a state and a budget. The page, the API and
the daemon submit jobs to one `Scheduler`, which hands them to its painter (this process's
`Stylizer`, or Ray's workers) first come, first served. Before this, the page kept its own dictionaries of waiting and running
sessions beside Gradio's queue, whose order it could not see: the position it told was a
guess, a painting cancelled while it waited still ran, and an API caller could hold the
only slot for as long as it liked.

- Position and estimate come from the scheduler's own line: the jobs running and the jobs
  submitted before yours, at the speed measured on this device's recent paintings.
- Cancel works in every state: a waiting job is taken out of the line and never reaches the
  painter; a running one stops at its next iteration, alone even when it shares a batch
  (each picture of a batch has its own cancel check).
- A budget bounds each job (long side, iterations, seconds running) and each owner (jobs
  waiting at once); what goes past it is refused at submit with one line naming the limit,
  or, for the running time, stopped and reported as such.
- Compatible waiting jobs (same schedule, sizes and network: `plan`'s batch key) start
  together as one batch, up to the batch size chosen for the device.
- Instant paintings do not queue here at all: they run beside the painting (see
  `Scheduler.instant`), a few at a time, and the painting gives them at most a bounded
  share of its time (engine's preview pause).
"""

from __future__ import annotations

import contextvars
import math
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Hashable, Sequence
from typing import TypeVar

import torch

from . import images
from .errors import Cancelled, StylizerError
from .filter import Filter
from .jobs import ENDED, UNLIMITED, Ahead, Budget, BudgetExceeded, Job, LineFull, State, EndOfUpdates
from .masks import Mask
from .plan import batch_key
from .quality import for_quality
from .transfer import CancelCheck, Progress, ProgressCallback

RECENT_BATCHES = 5  # finished batches the speed estimate averages
RECENT_JOBS = 256  # ended jobs still found by id (`Scheduler.job`), for an owner that looks late
OWNER_MEMORY_S = 3600.0  # how long an owner's last cancel is remembered (see `cancel_owner`)
T = TypeVar("T")


def device_batch_size(device_type: str) -> int:
    """How many compatible paintings start together on this kind of device.

    On a GPU one 512 px painting leaves the chip mostly idle, so batches pay. On the CPU
    they do not: four 256 px paintings as one batch took 0.95x the time of four in a row
    (bench/batch.py, 2 cores), and every picture of a batch finishes when the last does, so
    the first person in line would wait for all four.
    """
    return 8 if device_type == "cuda" else 1


def batch_key_of(job: Job) -> Hashable:
    """Jobs that can share a batch: the same quality and `plan.batch_key` (sizes, schedule,
    network). One scheduler serves one painter, whose precision differs only for `losses:
    paper` (always fp32, engine), so that stands in for the precision here."""
    run = for_quality(job.filter, job.quality)
    return (job.quality, run.losses == "paper", batch_key(*job.photo.size, run, torch.float32))


class Scheduler:
    """First come, first served over a painter's workers, with budgets, batches and cancel.

    It is itself a painter (`paint`, `paint_many`, `capacity`, `description`, `close`), so a
    front end written against `pool.Painter` (the daemon's workers) paints through it
    unchanged, and every caller of one process waits in the same line.
    """

    def __init__(
        self,
        painter,
        budget: Budget = UNLIMITED,
        batch_size: int = 1,
        max_waiting: int | None = None,
        compatible: Callable[[Job], Hashable] = batch_key_of,
        instant_slots: int = 2,
    ) -> None:
        self.painter = painter
        self.budget = budget
        self.batch_size = max(1, batch_size)
        self.max_waiting = max_waiting
        self._compatible = compatible
        self._lock = threading.Condition()
        self._waiting: list[Job] = []  # in the order they were submitted
        self._running: list[Job] = []
        self._owner_cancels: dict[str, float] = {}
        self._speed: deque[tuple[float, float]] = deque(maxlen=RECENT_BATCHES)  # (seconds, units)
        self._known: OrderedDict[str, Job] = OrderedDict()  # by id: the live jobs and the recently ended
        self._closed = False
        self._instant_slots = threading.BoundedSemaphore(instant_slots)
        self._instants: dict[str, int] = {}  # owner -> instant paintings being made
        # Started with the first job: a process that forks (ZeroGPU's GPU workers) or only
        # imports the app does not carry idle threads along.
        self._threads = [threading.Thread(target=self._work, name=f"painter-{i + 1}", daemon=True)
                         for i in range(max(1, painter.capacity))]

    # -- the painter interface -------------------------------------------------------------

    @property
    def capacity(self) -> int:
        """Jobs that can be painting at once: workers times the batch size."""
        return len(self._threads) * self.batch_size

    @property
    def description(self) -> str:
        return self.painter.description

    def paint(self, content, filter: Filter, quality: str = "normal", on_progress: ProgressCallback | None = None,
              cancel: CancelCheck | None = None, preview_every: int = 0, mask: Mask | None = None,
              owner: str = "local"):
        """Submit and wait: a job of `owner`'s, its progress passed on, `cancel` polled."""
        job = self.submit(content, filter, quality, owner=owner, mask=mask, preview_every=preview_every)
        return self._follow(job, on_progress, cancel)

    def paint_many(self, contents: Sequence, filters, quality: str = "normal", on_progress=None, cancel=None,
                   masks=None, preview_every: int = 0, owner: str = "local") -> list:
        """Submit all, wait for all: a result or the exception that stopped each photo alone."""
        count = len(contents)
        filters = [filters] * count if isinstance(filters, Filter) else list(filters)
        cancels = list(cancel) if cancel is not None else [None] * count
        masks = list(masks) if masks is not None else [None] * count
        jobs: list[Job | Exception] = []
        for index in range(count):
            try:
                jobs.append(self.submit(contents[index], filters[index], quality, owner=owner, mask=masks[index],
                                        preview_every=preview_every))
            except StylizerError as exc:
                jobs.append(exc)
        results: list = []
        for index, job in enumerate(jobs):
            report = (lambda p, index=index: on_progress(index, p)) if on_progress else None
            try:
                results.append(job if isinstance(job, Exception) else self._follow(job, report, cancels[index]))
            except StylizerError as exc:
                results.append(exc)
        return results

    @staticmethod
    def _follow(job: Job, on_progress: ProgressCallback | None, cancel: CancelCheck | None):
        """Wait for `job`, passing its progress to `on_progress` from a thread of its own."""

        def pass_on() -> None:
            while not isinstance(item := job.next_update(), EndOfUpdates):
                if isinstance(item, Progress):
                    on_progress(item)

        follower = threading.Thread(target=pass_on, name="job-progress", daemon=True) if on_progress else None
        if follower is not None:
            follower.start()
        try:
            return job.wait(cancel)
        finally:
            if follower is not None:
                follower.join()

    def instant(self, paint: Callable[[], T], owner: str = "local") -> T:
        """Run an instant painting now, beside the line: it never waits for a painting, only
        for a free instant slot (`instant_slots` at once), so a flood of them queues here
        instead of crowding the machine; the painting in progress pauses for them at most a
        bounded share of its time (the engine's preview pause)."""
        with self._lock:
            self._instants[owner] = self._instants.get(owner, 0) + 1
        try:
            with self._instant_slots:
                return paint()
        finally:
            with self._lock:
                self._instants[owner] -= 1
                if not self._instants[owner]:
                    del self._instants[owner]

    def busy(self, owner: str) -> bool:
        """Whether `owner` has an instant painting being made or a job waiting or running."""
        with self._lock:
            return owner in self._instants or any(job.owner == owner for job in (*self._waiting, *self._running))

    # -- the line --------------------------------------------------------------------------

    def submit(self, content, filter: Filter, quality: str = "normal", *, owner: str = "local",
               mask: Mask | None = None, preview_every: int = 0, budget: Budget | None = None,
               since: float | None = None, keep_context: bool = False, replace: bool = False,
               follow_within: float | None = None) -> Job:
        """Put a painting in line; refused here (one line) when it is past its budget, its
        owner already has as many jobs as the budget allows, or the line is full.

        `since`: when the owner asked (time.monotonic()); a job asked before its owner's
        last `cancel_owner` is cancelled at once (a Cancel pressed while the page was still
        making the instant painting). `keep_context`: the
        painting runs in the caller's contextvars (a ZeroGPU Space bills the visitor whose
        request it finds there). `replace`: the owner's jobs asked before this one are
        cancelled (a browser tab paints one painting at a time: Paint pressed again wins).
        `follow_within`: seconds the owner has to start following the job (`updates`,
        `wait`); a job nobody came for is cancelled, waiting or running.
        """
        budget = budget or self.budget
        budget.check(filter, quality)
        photo = images.load(content)
        since = time.monotonic() if since is None else since
        job = Job(photo, filter, quality, owner, mask, preview_every, budget, since,
                  contextvars.copy_context() if keep_context else None, follow_within)
        with self._lock:
            if self._closed:
                raise StylizerError("the painter is shutting down; try again in a minute")
            if self._owner_cancels.get(owner, -math.inf) >= since:
                job._stop.set()
                job._end(State.CANCELLED, error=Cancelled("painting cancelled"))
                return job
            replaced = [other for other in (*self._waiting, *self._running)
                        if replace and other.owner == owner and other.since <= since]
            mine = sum(1 for other in (*self._waiting, *self._running) if other.owner == owner and other not in replaced)
            if budget.max_waiting is not None and mine >= budget.max_waiting:
                raise BudgetExceeded(
                    f"{mine} of your paintings are already in line, this server's limit{budget._name('max_waiting')}; "
                    "wait for one to finish or cancel it")
            if self.max_waiting is not None and len(self._waiting) >= self.max_waiting:
                raise LineFull(f"{len(self._waiting)} paintings are waiting, as many as this server takes; "
                               "try again in a minute")
            if not self._threads[0].is_alive() and self._threads[0].ident is None:
                for thread in self._threads:
                    thread.start()
            job._scheduler = self
            self._known[job.id] = job
            # In submit order, not by `since`: a place once told then only ever gets better
            # (by press time, a press whose instant painting took longer came in ahead of
            # one already told its place, and moved it back).
            self._waiting.append(job)
            self._lock.notify_all()
        for other in replaced:
            other.cancel()
        self._notify_waiting()
        return job

    def job(self, job_id: str | None) -> Job | None:
        """A job by its id: waiting, running or recently ended; None when unknown."""
        with self._lock:
            return self._known.get(job_id) if job_id else None

    def cancel_owner(self, owner: str, since: float | None = None) -> int:
        """Cancel every job of `owner`, waiting or running; jobs it submits later that were
        asked for before now are cancelled as they arrive. Returns how many were cancelled."""
        now = time.monotonic() if since is None else since
        with self._lock:
            self._owner_cancels[owner] = now
            for name in [o for o, t in self._owner_cancels.items() if t < now - OWNER_MEMORY_S]:
                del self._owner_cancels[name]
            mine = [job for job in (*self._waiting, *self._running) if job.owner == owner]
        for job in mine:
            job.cancel()
        return len(mine)

    def jobs(self, owner: str | None = None) -> list[Job]:
        """The jobs waiting or running (of `owner`), in line order, running ones first."""
        with self._lock:
            return [job for job in (*self._running, *self._waiting) if owner is None or job.owner == owner]

    def history(self, owner: str | None = None) -> list[Job]:
        """The jobs (of `owner`) live or recently ended (the last RECENT_JOBS), oldest first."""
        with self._lock:
            return [job for job in self._known.values() if owner is None or job.owner == owner]

    def ahead(self, job: Job) -> Ahead:
        """The true position of a waiting job and its estimated wait (see `_estimate`)."""
        with self._lock:
            if job not in self._waiting:
                return Ahead(0, 0.0)
            before = self._waiting[: self._waiting.index(job)]
            estimate = self._estimate(before)
            # Whole seconds: an owner is told again when its place or its estimate changes,
            # and a float would change at every look.
            return Ahead(len(self._running) + len(before), None if estimate is None else float(round(estimate)))

    def seconds_per_unit(self) -> float | None:
        """Measured speed: seconds per pixel-iteration over the recent batches on this
        device; None until one has finished (no number is made up before)."""
        with self._lock:
            return self._rate()

    def _rate(self) -> float | None:
        """`seconds_per_unit`; holds `self._lock`."""
        return sum(s for s, _ in self._speed) / sum(u for _, u in self._speed) if self._speed else None

    def _estimate(self, before: list[Job]) -> float | None:
        """When the next worker is free for a job behind `before`: each running batch's
        remaining time, then the jobs ahead assigned in order to the first worker free
        (as batches of one: on a device that batches, an estimate on the long side). Holds
        `self._lock`."""
        rate = self._rate()
        if rate is None:
            return None
        now = time.monotonic()
        free = [0.0] * len(self._threads)
        batches = {id(job._batch): job._batch for job in self._running}
        for index, batch in enumerate(list(batches.values())[: len(free)]):
            free[index] = max(0.0, sum(job.work for job in batch) * rate - (now - (batch[0].started or now)))
        for job in before:
            slot = free.index(min(free))
            free[slot] += job.work * rate
        return min(free)

    def _withdraw(self, job: Job) -> None:
        """A cancelled job leaves the line at once, before any worker can take it."""
        with self._lock:
            if job in self._waiting:
                self._leave_line(job, "painting cancelled")
        self._notify_waiting()

    def _leave_line(self, job: Job, reason: str) -> None:
        """A waiting job ends without running. Holds `self._lock`."""
        self._waiting.remove(job)
        job._end(State.CANCELLED, error=Cancelled(reason))
        self._forget_ended()

    def _forget_ended(self) -> None:
        """Keep at most RECENT_JOBS ended jobs findable by id. Holds `self._lock`."""
        ended = [job_id for job_id, job in self._known.items() if job.state in ENDED]
        for job_id in ended[: max(0, len(ended) - RECENT_JOBS)]:
            del self._known[job_id]

    def _notify_waiting(self) -> None:
        """The line moved: every waiting job's owner hears its new position."""
        with self._lock:
            waiting = list(self._waiting)
        for job in waiting:
            job._notify()

    # -- the workers -----------------------------------------------------------------------

    def _take(self) -> list[Job] | None:
        """The first job in line and the compatible jobs after it, up to the batch size; jobs
        nobody came for leave the line here without running."""
        with self._lock:
            while True:
                while not self._waiting and not self._closed:
                    self._lock.wait()
                if self._closed:
                    return None
                for job in [job for job in self._waiting if job.abandoned]:
                    self._leave_line(job, "nobody followed the painting")
                if self._waiting:
                    break
            batch = [self._waiting[0]]
            if self.batch_size > 1:
                key = self._compatible(batch[0])
                batch += [job for job in self._waiting[1:] if self._compatible(job) == key][: self.batch_size - 1]
            now = time.monotonic()
            for job in batch:
                self._waiting.remove(job)
                job.state, job.started, job._batch = State.RUNNING, now, batch
                self._running.append(job)
        self._notify_waiting()
        return batch

    def _work(self) -> None:
        while True:
            batch = self._take()
            if batch is None:
                return
            started = time.monotonic()
            try:
                outcomes = self._paint(batch)
            except BaseException as exc:  # the painter itself failed: every job of the batch ends with it
                outcomes = [exc] * len(batch)
            seconds = time.monotonic() - started
            with self._lock:
                for job in batch:
                    self._running.remove(job)
                if all(not isinstance(o, BaseException) for o in outcomes):
                    self._speed.append((seconds, sum(job.work for job in batch)))
            for job, outcome in zip(batch, outcomes):
                self._finish(job, outcome)
            with self._lock:
                self._forget_ended()
            self._notify_waiting()

    def _paint(self, batch: list[Job]) -> list:
        """One call to the painter for the batch, in the first job's context when it kept one."""
        run = lambda: self.painter.paint_many(  # noqa: E731
            [job.photo for job in batch], [job.filter for job in batch], batch[0].quality,
            on_progress=lambda index, progress: batch[index]._post(progress),
            cancel=[job._should_stop for job in batch], masks=[job.mask for job in batch],
            preview_every=max(job.preview_every for job in batch),
        )
        context = batch[0].context
        return context.run(run) if context is not None else run()

    def _finish(self, job: Job, outcome) -> None:
        if not isinstance(outcome, BaseException):
            job._end(State.DONE, result=outcome)
        elif isinstance(outcome, Cancelled) and not job.cancelled and job.budget.max_seconds is not None:
            job._end(State.FAILED, error=BudgetExceeded(
                f"stopped after {job.budget.max_seconds:.0f} s, the longest a painting may run on this server"
                f"{job.budget._name('max_seconds')}"))
        elif isinstance(outcome, Cancelled):
            job._end(State.CANCELLED, error=outcome)
        else:
            job._end(State.FAILED, error=outcome)

    def close(self, timeout: float = 30.0, close_painter: bool = True) -> None:
        """Cancel everything and stop the workers (waiting at most `timeout` for running
        paintings to reach their next cancel check), then close the painter (unless it is
        someone else's to close)."""
        with self._lock:
            self._closed = True
            jobs = [*self._waiting, *self._running]
            self._lock.notify_all()
        for job in jobs:
            job.cancel()
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            if thread.ident is not None:
                thread.join(timeout=max(0.0, deadline - time.monotonic()))
        if close_painter:
            self.painter.close()


__all__ = ["Scheduler", "batch_key_of", "device_batch_size"]
