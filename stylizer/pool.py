"""Who paints: this process's `Stylizer`, or a pool of Ray actors that each own one.

The app and the daemon hand every painting to a `Painter` and never know which kind they
have. `LocalPainter` is the default and needs nothing beyond the core. `RayPainter` sends
each painting to one of N actors on a Ray cluster (one per GPU, or one per few CPU cores)
and streams its progress back, live previews included.

What crosses to a worker is pixels and numbers only: the photo, the filter with its
paintings as pixels (a worker node has no presets folder), the quality. The worker returns
the painted image; it never sees a path, so the process that asked is the only one that
writes files. Ray's own fault tolerance restarts a worker that dies (`max_restarts`); the
job it was painting is tried again here, on another worker where there is one, because only
this side knows whether the job is still wanted. A job goes only to a worker that has just
answered: a restarting worker is waited for, with back-off, not handed the job again, so
`MAX_ATTEMPTS` counts paintings lost on live workers, never one restart seen three times.
(`ray.util.ActorPool` would hand out idle actors too, but neither notices a dead one nor
streams a job's progress, so the few lines of idle-worker bookkeeping are our own.)

When the Ray node under this process dies, Ray 2.60 does one of two things to it. If the
process is moving a painting through the node's object store, Ray's core ends it on the
spot (`_Exit(1)`: no Python code runs, so no log line of ours is possible from inside). If
not, the process lives on while its workers are dead for good (their owner's node is gone):
every job would fail at once and good photos would go to failed/. So the pool watches its
workers and, on such a loss, logs one line and ends the process with `CLUSTER_LOST_EXIT`
(Ray's own status 1); for the first case a small sentinel process, which outlives this one,
writes the line when this process ends without closing the pool and the node's object
store no longer answers. A service manager then restarts the process, which joins the
cluster again at start; the daemon's journal redoes the jobs it had, none goes to failed/.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import logging
import os
import queue
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Protocol, TypeVar

from . import images
from .cluster import RaySettings, size_cpu_workers
from .engine import Result, Stylizer
from .errors import Cancelled, StylizerError
from .filter import Filter
from .masks import Mask
from .quality import for_quality
from .transfer import CancelCheck, Progress, ProgressCallback

log = logging.getLogger("stylizer.pool")
T = TypeVar("T")

MAX_ATTEMPTS = 3  # workers a job may take down before it counts as the job's own fault
START_TIMEOUT_S = 120.0  # for the workers to load the network; longer means they do not fit
POLL_S = 0.2  # how often a waiting painting looks at its cancel flag
BACKOFF_S = (0.2, 5.0)  # first and longest wait between asking a restarting worker again
WATCH_S = 2.0  # how often the pool checks that Ray still has its workers
CLUSTER_LOST_EXIT = 1  # the process ends when it has lost the Ray cluster; Ray's own status for it

# Run beside a pool's process: reads its stdin until that process writes to it (closed in
# order, or the loss already logged) or ends; ended without a word while the node's object
# store refuses connections, the node died under it, and it says so on the shared stderr.
SENTINEL = """
import logging, signal, socket, sys
signal.signal(signal.SIGINT, signal.SIG_IGN)
message, store = sys.argv[1], sys.argv[2]
if sys.stdin.read():
    sys.exit(0)
try:
    with socket.socket(socket.AF_UNIX) as probe:
        probe.connect(store)
except OSError:
    logging.basicConfig(format="%(asctime)s %(levelname)-7s %(message)s", datefmt="%Y-%m-%d %H:%M:%S")
    logging.error(message)
"""
CONTROL = "control"  # the actors' concurrency group for cancel and info, beside a painting


class Painter(Protocol):
    """The one interface both front ends paint through."""

    capacity: int  # paintings that can run at once; the app's and the daemon's concurrency
    description: str

    def paint(
        self,
        content: images.ImageSource,
        filter: Filter,
        quality: str = "normal",
        on_progress: ProgressCallback | None = None,
        cancel: CancelCheck | None = None,
        preview_every: int = 0,
        mask: Mask | None = None,
    ) -> Result: ...

    def paint_many(
        self,
        contents: Sequence[images.ImageSource],
        filters: Filter | Sequence[Filter],
        quality: str = "normal",
        on_progress: Callable[[int, Progress], None] | None = None,
        cancel: Sequence[CancelCheck | None] | None = None,
        masks: Sequence[Mask | None] | None = None,
        preview_every: int = 0,
    ) -> list[Result | Exception]: ...

    def close(self) -> None: ...


class WorkerFailed(StylizerError):
    """A painting took down `MAX_ATTEMPTS` workers in turn: something in the job itself kills
    them (a photo that exhausts a worker's memory, say), so it is not tried forever."""


class ClusterLost(StylizerError):
    """Ray will not restart a worker: this process's node, or the cluster's head, is gone.
    Not the photo's fault; the painting can only be done again after a restart."""


class LocalPainter:
    """This process's `Stylizer`: one painting at a time, the single-machine default."""

    capacity = 1

    def __init__(self, stylizer: Stylizer) -> None:
        self.stylizer = stylizer

    @property
    def description(self) -> str:
        return self.stylizer.description

    def paint(self, content, filter, quality="normal", on_progress=None, cancel=None, preview_every=0, mask=None) -> Result:
        return self.stylizer.paint(content, filter, quality, on_progress, cancel, preview_every, mask)

    def paint_many(self, contents, filters, quality="normal", on_progress=None, cancel=None, masks=None,
                   preview_every=0) -> list[Result | Exception]:
        return self.stylizer.paint_many(contents, filters, quality, on_progress, cancel, masks, preview_every)

    def close(self) -> None:
        pass


@functools.cache
def code_version() -> str:
    """A fingerprint of the core's source: a job painted by other code is another job."""
    digest = hashlib.sha256()
    for path in sorted(Path(__file__).parent.glob("*.py")):
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:16]


def job_id(photo: images.Image.Image, filter: Filter, quality: str, mask: Mask | None = None) -> str:
    """Names a painting by what it is made of: the photo's pixels, the filter (its paintings
    by their pixels), the quality, the mask and the code. The same job asked twice is the
    same job."""
    parts = [images.digest(photo), _filter_key(filter), quality, code_version()]
    if mask is not None:
        parts += [mask.identity, _filter_key(mask.outside) if mask.outside is not None else None]
    return hashlib.sha256(repr(parts).encode()).hexdigest()[:24]


def _filter_key(filter: Filter) -> tuple:
    fields = {f.name: getattr(filter, f.name) for f in dataclasses.fields(filter) if f.name != "styles"}
    return sorted(fields.items()), [(s.identity, s.weight, s.scale) for s in filter.portable().styles]


class PaintWorker:
    """One Ray actor's state: a `Stylizer` on the node's device, painting one job at a time.

    `paint` is a generator, so Ray streams each `Progress` back as it happens; `cancel`
    runs in its own concurrency group, beside a painting in progress.
    """

    def __init__(self, device: str, precision: str, max_memory_gb: float | None = None) -> None:
        self.stylizer = Stylizer(device, precision, max_memory_gb)
        self._cancel_flags: dict[str, threading.Event] = {}
        self.jobs = 0

    def info(self) -> dict:
        painting = next(iter(self._cancel_flags), None)
        return {"pid": os.getpid(), "jobs": self.jobs, "painting": painting, "description": self.stylizer.description}

    def cancel(self, job: str) -> None:
        flag = self._cancel_flags.get(job)
        if flag is not None:
            flag.set()

    def paint(self, job: str, photo, filter: Filter, quality: str, preview_every: int, mask: Mask | None) -> Iterator:
        """Streams each Progress, then the (image, stats) pair."""
        flags = self._flags([job])

        def run(put: Callable[[object], None]) -> tuple:
            result = self.stylizer.paint(photo, filter, quality, put, flags[0].is_set, preview_every, mask)
            return result.image, result.stats

        yield from self._stream(job, [job], run)  # a generator method: Ray streams what it yields

    def paint_many(self, jobs: list[str], photos: list, filters: list[Filter], quality: str, preview_every: int,
                   masks: list[Mask | None]) -> Iterator:
        """A batch through one network pass per iteration (Stylizer.paint_many): streams
        (photo index, Progress) pairs, then one list with an (image, stats) pair or the
        exception of each photo. Each job answers `cancel` on its own."""
        flags = self._flags(jobs)

        def run(put: Callable[[object], None]) -> list:
            results = self.stylizer.paint_many(
                photos, filters, quality, lambda index, progress: put((index, progress)),
                [flag.is_set for flag in flags], masks, preview_every, batch_size=len(photos),
            )
            return [(r.image, r.stats) if isinstance(r, Result) else r for r in results]

        yield from self._stream(jobs[0], jobs, run)

    def _flags(self, jobs: list[str]) -> list[threading.Event]:
        self.jobs += len(jobs)
        return [self._cancel_flags.setdefault(job, threading.Event()) for job in jobs]

    def _stream(self, name: str, jobs: list[str], run: Callable[[Callable[[object], None]], object]) -> Iterator:
        """Runs `run(put)` in a thread and yields what it puts, then what it returns; a
        painting's own error is raised here, so Ray hands it to the caller. When the caller
        stops listening (cancel, or gone), the jobs' flags stop the painting."""
        events: queue.Queue = queue.Queue()
        last = object()

        def work() -> None:
            try:
                events.put((last, run(events.put)))
            except BaseException as exc:
                events.put(exc)

        thread = threading.Thread(target=work, name=f"paint-{name}", daemon=True)
        thread.start()
        try:
            while True:
                item = events.get()
                if isinstance(item, Cancelled):
                    return  # the caller asked for it and has stopped listening
                if isinstance(item, BaseException):
                    raise item
                if isinstance(item, tuple) and len(item) == 2 and item[0] is last:
                    yield item[1]
                    return
                yield item
        finally:
            for job in jobs:
                self._cancel_flags.get(job, threading.Event()).set()
            thread.join()
            for job in jobs:
                self._cancel_flags.pop(job, None)


class RayPainter:
    """Paintings on a Ray cluster's workers; `paint` blocks its caller until one is free.

    Token authentication stays on: when `RAY_AUTH_MODE` is not set, this process asks for
    "token", so connecting without the cluster's token fails instead of going in unchecked.

    `on_lost` is called once, with the reason, when the cluster is lost (see the module's
    docstring); by default the loss is logged and the process ends with `CLUSTER_LOST_EXIT`,
    because a Ray driver cannot join again in the same process, and Ray may end it anyway.
    """

    def __init__(
        self,
        address: str,
        workers: int | None = None,
        cpus_per_worker: float | None = None,
        device: str = "auto",
        precision: str = "auto",
        max_memory_gb: float | None = None,
        on_lost: Callable[[str], None] | None = None,
    ) -> None:
        # Before Ray is imported: it reads the mode once, at import.
        os.environ.setdefault("RAY_AUTH_MODE", "token")
        try:
            import ray
        except ImportError:
            raise StylizerError(
                "painting on a Ray cluster needs Ray: pip install -r requirements-ray.txt"
            ) from None
        self._ray = ray
        self.address = address
        self._on_lost = on_lost
        self._sentinel: subprocess.Popen | None = None
        self._lost = threading.Event()
        self._closing = threading.Event()
        try:
            # The core travels with the job, so every worker runs exactly this code.
            ray.init(
                address=address, namespace="stylizer", logging_level=logging.WARNING, log_to_driver=False,
                runtime_env={"py_modules": [str(Path(__file__).parent)]},
            )
        except Exception as exc:  # connection refused, wrong or missing token, bad address
            raise StylizerError(
                f"cannot join the Ray cluster at {address}: {exc}. Is it running? A cluster with token "
                "authentication also needs its token on this machine (~/.ray/auth_token, or RAY_AUTH_TOKEN_PATH)"
            ) from None
        if workers is not None and workers < 1:
            raise StylizerError(f"workers: expected 1 or more (or none for one per GPU), got {workers}")
        resources = ray.cluster_resources()
        gpus = int(resources.get("GPU", 0))
        if gpus:
            cpus, count = cpus_per_worker or 1, workers or gpus
        else:
            node_cpus = [n["Resources"].get("CPU", 0) for n in ray.nodes() if n.get("Alive")]
            count, cpus = size_cpu_workers(node_cpus, workers, cpus_per_worker)
        actor = ray.remote(
            num_cpus=cpus, num_gpus=1 if gpus else 0,
            max_restarts=-1, max_task_retries=0,  # restarted by Ray; the job is retried here
            concurrency_groups={CONTROL: 1},
        )(PaintWorker)
        self._workers = [actor.remote(device, precision, max_memory_gb) for _ in range(count)]
        self._check_started(count, cpus, gpus, resources)
        self.capacity = count
        self.cpus_per_worker = cpus
        self.description = f"Ray cluster at {address}: {count} workers ({'1 GPU' if gpus else f'{cpus:g} CPUs'} each)"
        self._idle: queue.Queue[int] = queue.Queue()
        for index in range(count):
            self._idle.put(index)
        self._watcher = threading.Thread(target=self._watch, name="ray-watch", daemon=True)
        self._watcher.start()
        self._sentinel = self._start_sentinel()

    def _start_sentinel(self) -> subprocess.Popen | None:
        """The process that reports this one's end when Ray ends it without a word (see the
        module's docstring); none when no Ray node runs on this machine (a ray:// client)."""
        node = getattr(self._ray._private.worker.global_worker, "node", None)
        store = getattr(node, "plasma_store_socket_name", None)
        if not store:
            return None
        message = (f"lost the Ray cluster at {self.address}: the Ray node under process {os.getpid()} died and "
                   f"Ray ended that process at once (status {CLUSTER_LOST_EXIT}), to be restarted")
        return subprocess.Popen([sys.executable, "-c", SENTINEL, message, store], stdin=subprocess.PIPE,
                                stdout=subprocess.DEVNULL)

    def _quiet_sentinel(self) -> None:
        """Tells the sentinel this process ends knowingly, so it says nothing."""
        sentinel, self._sentinel = self._sentinel, None
        if sentinel is None:
            return
        try:
            sentinel.stdin.write(b"done")
            sentinel.stdin.close()
            sentinel.wait(timeout=5)
        except (OSError, subprocess.TimeoutExpired):
            sentinel.kill()

    def _check_started(self, count: int, cpus: float, gpus: int, resources: dict) -> None:
        ray = self._ray
        pending = [w.info.options(concurrency_group=CONTROL).remote() for w in self._workers]
        ready, waiting = ray.wait(pending, num_returns=len(pending), timeout=START_TIMEOUT_S)
        if waiting:
            self.close()
            raise StylizerError(
                f"only {len(ready)} of {count} Ray workers started within {START_TIMEOUT_S:.0f} s; each needs "
                f"{'1 GPU' if gpus else f'{cpus:g} CPUs'} and the cluster has {resources.get('CPU', 0):g} CPUs, "
                f"{resources.get('GPU', 0):g} GPUs: ask for fewer workers (or fewer CPUs per worker)"
            )
        ray.get(ready)  # a worker that cannot even start (the core missing on a node) says so here

    def worker_info(self) -> list[dict]:
        """Each reachable worker's process id, job count, current job and device; a worker
        that is being restarted is left out."""
        found = []
        for worker in self._workers:
            try:
                found.append(self._ray.get(worker.info.options(concurrency_group=CONTROL).remote(), timeout=30))
            except (self._ray.exceptions.RayActorError, self._ray.exceptions.GetTimeoutError):
                continue
        return found

    def paint(self, content, filter, quality="normal", on_progress=None, cancel=None, preview_every=0, mask=None) -> Result:
        photo = images.load(content)
        shipped = filter.portable()
        mask = mask.portable() if mask is not None else None
        job = job_id(photo, shipped, quality, mask)
        image, stats = self._with_retries(job, cancel, lambda index: self._run(
            index, job, photo, shipped, quality, on_progress, cancel, preview_every, mask))
        return Result(image=image, stats=stats, filter=for_quality(filter, quality))

    def paint_many(self, contents, filters, quality="normal", on_progress=None, cancel=None, masks=None,
                   preview_every=0) -> list[Result | Exception]:
        """Several photos as one batch on one worker (its Stylizer.paint_many); a photo that
        cannot be read, is cancelled or fails alone has its exception in its slot."""
        count = len(contents)
        filters = [filters] * count if isinstance(filters, Filter) else list(filters)
        cancels = list(cancel) if cancel is not None else [None] * count
        masks = list(masks) if masks is not None else [None] * count
        results: list[Result | Exception | None] = [None] * count
        batch: list[int] = []
        photos, shipped, ports, jobs = [], [], [], []
        for index in range(count):
            try:
                photo = images.load(contents[index])
            except StylizerError as exc:
                results[index] = exc
                continue
            batch.append(index)
            photos.append(photo)
            shipped.append(filters[index].portable())
            ports.append(masks[index].portable() if masks[index] is not None else None)
            jobs.append(job_id(photo, shipped[-1], quality, ports[-1]))
        if batch:
            checks = [cancels[i] for i in batch]

            def all_cancelled() -> bool:
                return all(check is not None and check() for check in checks)

            name = hashlib.sha256("+".join(jobs).encode()).hexdigest()[:24]
            done = self._with_retries(name, all_cancelled, lambda index: self._run_batch(
                index, jobs, photos, shipped, quality, ports, batch, on_progress, checks, preview_every))
            for slot, item in zip(batch, done):
                results[slot] = item if isinstance(item, Exception) else Result(
                    image=item[0], stats=item[1], filter=for_quality(filters[slot], quality), quality=quality)
        return results

    def _with_retries(self, job: str, cancel: CancelCheck | None, attempt: Callable[[int], T]) -> T:
        """`attempt(worker index)` on an idle worker that answers; a worker that dies under it
        is waited for (or avoided) and the job tried again, `MAX_ATTEMPTS` times in all."""
        failures: list[str] = []
        avoid = None
        while len(failures) < MAX_ATTEMPTS:
            index = self._take(cancel, avoid)
            pid = None
            try:
                pid = self._wait_until_up(index, cancel)
                return attempt(index)
            except self._ray.exceptions.RayActorError as exc:
                if isinstance(exc, self._ray.exceptions.ActorDiedError):
                    self._wait_until_up(index, cancel)  # ClusterLost if it will never come back
                failures.append(f"worker {index + 1}, process {pid}: {type(exc).__name__}")
                log.warning("job %s: worker %d (process %s) died (%s); trying again", job, index + 1, pid, type(exc).__name__)
                avoid = index
            finally:
                self._idle.put(index)
        raise WorkerFailed(f"the painting stopped {MAX_ATTEMPTS} workers in turn ({'; '.join(failures)})")

    def _take(self, cancel: CancelCheck | None, avoid: int | None) -> int:
        """An idle worker, preferring one other than `avoid` (the one that just died)."""
        while True:
            if cancel is not None and cancel():
                raise Cancelled()
            try:
                index = self._idle.get(timeout=POLL_S)
            except queue.Empty:
                continue
            if index == avoid and self.capacity > 1 and not self._idle.empty():
                self._idle.put(index)
                continue
            return index

    def _wait_until_up(self, index: int, cancel: CancelCheck | None) -> int:
        """The worker's process id once it answers. While Ray restarts it, every call fails at
        once ("the actor is restarting"), so it is asked again after a growing pause; a job
        sent meanwhile would be lost without ever being painted, and counted against it."""
        ray = self._ray
        delay, longest = BACKOFF_S
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            try:
                info = ray.get(self._workers[index].info.options(concurrency_group=CONTROL).remote(), timeout=POLL_S * 5)
                return info["pid"]
            except ray.exceptions.ActorDiedError as exc:  # never to be restarted: the cluster is gone
                raise self._lose(_gone(index, exc)) from None
            except (ray.exceptions.ActorUnavailableError, ray.exceptions.GetTimeoutError):
                pass  # restarting, or loading the network again
            if time.monotonic() > deadline:
                raise StylizerError(f"Ray worker {index + 1} did not come back within {START_TIMEOUT_S:.0f} s")
            pause_until = time.monotonic() + delay
            while time.monotonic() < pause_until:
                if cancel is not None and cancel():
                    raise Cancelled()
                time.sleep(min(POLL_S, max(0.0, pause_until - time.monotonic())))
            delay = min(delay * 2, longest)

    def _run(self, index, job, photo, shipped, quality, on_progress, cancel, preview_every, mask) -> tuple:
        worker = self._workers[index]
        stream = worker.paint.remote(job, photo, shipped, quality, preview_every, mask)

        def between() -> None:
            if cancel is not None and cancel():
                raise Cancelled()

        finished = False
        try:
            for item in self._received(stream, between):
                if isinstance(item, Progress):
                    if on_progress is not None:
                        on_progress(item)
                    continue
                finished = True
                image, stats = item
                return image, stats
            raise StylizerError("a Ray worker ended a painting without a result")
        finally:
            if not finished:
                worker.cancel.options(concurrency_group=CONTROL).remote(job)  # cancelled, or the caller failed: free the worker

    def _run_batch(self, index, jobs, photos, shipped, quality, masks, slots, on_progress, cancels,
                   preview_every) -> list:
        """Stream one batch from worker `index`: progress to `on_progress` (by the caller's
        photo index), a photo's cancel to the worker as it happens; the batch's results."""
        worker = self._workers[index]
        stream = worker.paint_many.remote(jobs, photos, shipped, quality, preview_every, masks)
        told: set[int] = set()

        def between() -> None:
            for position, check in enumerate(cancels):
                if position not in told and check is not None and check():
                    told.add(position)
                    worker.cancel.options(concurrency_group=CONTROL).remote(jobs[position])

        finished = False
        try:
            for item in self._received(stream, between):
                if isinstance(item, tuple):
                    if on_progress is not None:
                        on_progress(slots[item[0]], item[1])
                    continue
                finished = True
                return item
            raise StylizerError("a Ray worker ended a batch without its results")
        finally:
            if not finished:
                for job in jobs:
                    worker.cancel.options(concurrency_group=CONTROL).remote(job)

    def _received(self, stream, between: Callable[[], None]) -> Iterator:
        """What a worker's stream yields, as it comes; `between` runs at least every
        `POLL_S` meanwhile (to answer cancels). A painting's own error is raised as if it
        had been painted here."""
        ray = self._ray
        while True:
            ready, _ = ray.wait([stream], timeout=POLL_S)
            between()
            if not ready:
                continue
            try:
                yield ray.get(next(stream))
            except StopIteration:
                return
            except ray.exceptions.RayTaskError as exc:
                raise exc.cause from None

    def _watch(self) -> None:
        """Asks every worker, every `WATCH_S`, whether Ray still has it, so that a lost
        cluster is noticed while no painting runs too (a restarting worker is fine)."""
        ray = self._ray
        while not self._closing.wait(WATCH_S):
            for index, worker in enumerate(list(self._workers)):
                try:
                    ray.get(worker.info.options(concurrency_group=CONTROL).remote(), timeout=WATCH_S * 5)
                except ray.exceptions.ActorDiedError as exc:
                    if not self._closing.is_set():
                        self._lose(_gone(index, exc))
                    return
                except Exception:  # restarting, busy, slow: asked again next time
                    continue

    def _lose(self, reason: str) -> ClusterLost:
        """Reports the loss once (`on_lost`) and returns the error for a painting to raise."""
        error = ClusterLost(f"lost the Ray cluster at {self.address}: {reason}")
        if not self._lost.is_set():
            self._lost.set()
            if self._on_lost is not None:
                self._on_lost(str(error))
            else:
                self._quiet_sentinel()
                _exit_on_lost(str(error))
        return error

    def close(self) -> None:
        """Stop the workers and leave the cluster (which goes on running for others)."""
        self._closing.set()
        self._quiet_sentinel()
        for worker in self._workers:
            self._ray.kill(worker)
        self._workers = []
        self._ray.shutdown()


def _gone(index: int, exc: BaseException) -> str:
    """Why a worker Ray will not restart means the cluster is lost, in one line."""
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return f"Ray will not restart worker {index + 1}, so this process's node or the cluster's head is gone ({first})"


def _exit_on_lost(message: str) -> None:
    """The default for a lost cluster: say so, then end the process with a status a service
    manager restarts on. `os._exit`, because Ray's own threads would keep a normal exit
    waiting; the daemon's journal is made for a process that ends at any instant."""
    log.error("%s; exiting (status %d) to be restarted", message, CLUSTER_LOST_EXIT)
    for handler in logging.getLogger().handlers + log.handlers:
        handler.flush()
    sys.stderr.flush()
    os._exit(CLUSTER_LOST_EXIT)


def make_painter(
    ray: RaySettings | None,
    device: str = "auto",
    precision: str = "auto",
    stylizer: Stylizer | None = None,
    max_memory_gb: float | None = None,
) -> Painter:
    """The painter a front end asked for: Ray's workers when given a cluster, else this
    process's `stylizer` (a new one on `device` when none is given)."""
    if ray is not None:
        return RayPainter(ray.address, ray.workers, ray.cpus_per_worker, device, precision, max_memory_gb)
    return LocalPainter(stylizer or Stylizer(device, precision, max_memory_gb))


__all__ = ["CLUSTER_LOST_EXIT", "ClusterLost", "LocalPainter", "Painter", "RayPainter", "RaySettings", "WorkerFailed", "job_id", "make_painter"]
