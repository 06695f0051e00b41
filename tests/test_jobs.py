"""Jobs and their scheduler (stylizer/jobs.py, stylizer/scheduler.py) over the real engine:
line order, cancel in every state, budgets, batches and estimates. The painter under it is
the real LocalPainter; the recording wrapper below only notes which photos reached it."""

from __future__ import annotations

import threading
import time

import pytest

from conftest import PAINTING, PHOTO
from stylizer import Filter, images
from stylizer.errors import Cancelled, ImageError
from stylizer.jobs import Ahead, Budget, BudgetExceeded, LineFull, State
from stylizer.scheduler import Scheduler
from stylizer.pool import LocalPainter
from stylizer.transfer import Progress

ENDLESS = 100_000  # iterations: a painting that runs until it is stopped


class Recording:
    """A real painter that notes the photos each batch handed to it (by their first pixel's
    tag, see `tagged`)."""

    def __init__(self, painter) -> None:
        self.painter = painter
        self.capacity = painter.capacity
        self.description = painter.description
        self.batches: list[list[int]] = []

    def paint_many(self, contents, filters, quality="normal", **kwargs):
        self.batches.append([photo.getpixel((0, 0))[0] for photo in contents])
        return self.painter.paint_many(contents, filters, quality, **kwargs)

    def close(self) -> None:
        pass


def tagged(tag: int, size: tuple[int, int] = (48, 36)) -> images.Image.Image:
    """The test photo with its top-left pixel's red set to `tag`: which job a batch held."""
    photo = images.load(PHOTO).resize(size)
    photo.putpixel((0, 0), (tag, 0, 0))
    return photo


def flt(iterations: int = 6, size: int = 48) -> Filter:
    return Filter(styles=(PAINTING,), size=size, scales=1, iterations=iterations)


@pytest.fixture
def recording(stylizer):
    return Recording(LocalPainter(stylizer))


@pytest.fixture
def scheduler(recording):
    line = Scheduler(recording)
    yield line
    line.close()


def wait_for(condition, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def test_jobs_start_in_the_order_they_were_asked_and_each_is_told_its_true_position(scheduler, recording):
    first = scheduler.submit(tagged(1), flt(ENDLESS))
    wait_for(lambda: first.state is State.RUNNING)
    later = [scheduler.submit(tagged(tag), flt()) for tag in (2, 3, 4)]
    assert [scheduler.ahead(job).position for job in later] == [1, 2, 3]
    assert later[2].next_update(timeout=5) == scheduler.ahead(later[2])
    first.cancel()
    for job in later:
        job.wait()
    assert [batch[0] for batch in recording.batches] == [1, 2, 3, 4]
    assert [job.started for job in later] == sorted(job.started for job in later)


def test_a_job_cancelled_while_it_waits_never_reaches_the_painter(scheduler, recording):
    running = scheduler.submit(tagged(1), flt(ENDLESS))
    wait_for(lambda: running.state is State.RUNNING)
    waiting = scheduler.submit(tagged(2), flt())
    behind = scheduler.submit(tagged(3), flt())
    waiting.cancel()
    assert waiting.state is State.CANCELLED
    assert scheduler.ahead(behind).position == 1, "the cancelled job left the line at once"
    running.cancel()
    behind.wait()
    with pytest.raises(Cancelled):
        waiting.wait()
    assert [tag for batch in recording.batches for tag in batch] == [1, 3]


def test_a_running_job_stops_within_an_iteration_and_the_next_one_starts(scheduler):
    running = scheduler.submit(tagged(1), flt(ENDLESS))
    updates = running.updates()
    assert isinstance(next(item for item in updates if isinstance(item, Progress)), Progress)
    following = scheduler.submit(tagged(2), flt())
    running.cancel()
    with pytest.raises(Cancelled):
        list(updates)
    assert running.state is State.CANCELLED
    assert following.wait().image.size == (48, 36)


def test_a_cancel_pressed_before_the_job_was_submitted_still_cancels_it(scheduler, recording):
    """The page submits after its instant painting; a Cancel pressed meanwhile must win."""
    pressed = time.monotonic()
    assert scheduler.cancel_owner("visitor") == 0
    late = scheduler.submit(tagged(1), flt(), owner="visitor", since=pressed)
    assert late.state is State.CANCELLED
    fresh = scheduler.submit(tagged(2), flt(), owner="visitor")
    assert fresh.wait().image is not None
    assert recording.batches == [[2]]


def test_cancelling_an_owner_stops_its_running_and_waiting_jobs_and_no_one_elses(scheduler):
    mine = scheduler.submit(tagged(1), flt(ENDLESS), owner="tab-a")
    wait_for(lambda: mine.state is State.RUNNING)
    mine_waiting = scheduler.submit(tagged(2), flt(), owner="tab-a")
    theirs = scheduler.submit(tagged(3), flt(), owner="tab-b")
    assert scheduler.cancel_owner("tab-a") == 2
    assert theirs.wait().image is not None
    assert mine.state is State.CANCELLED and mine_waiting.state is State.CANCELLED


def test_budgets_refuse_with_one_line_naming_the_limit(recording):
    budget = Budget(max_side=64, max_iterations=50, max_waiting=1,
                    names={"max_side": "STYLIZER_MAX_SIZE", "max_iterations": "STYLIZER_MAX_ITERATIONS"})
    line = Scheduler(recording, budget=budget, max_waiting=2)
    try:
        with pytest.raises(BudgetExceeded, match=r"size 128 px is over this server's limit of 64 px \(STYLIZER_MAX_SIZE\)"):
            line.submit(tagged(1), flt(size=128))
        with pytest.raises(BudgetExceeded, match=r"150 iterations is over .* 50 \(STYLIZER_MAX_ITERATIONS\)"):
            line.submit(tagged(1), flt(50), quality="high")
        first = line.submit(tagged(1), flt(50), owner="a")
        with pytest.raises(BudgetExceeded, match="already in line"):
            line.submit(tagged(2), flt(), owner="a")
        line.submit(tagged(3), flt(), owner="b")
        line.submit(tagged(4), flt(), owner="c")
        with pytest.raises(LineFull, match="waiting"):
            line.submit(tagged(5), flt(), owner="d")
        first.cancel()
    finally:
        line.close()
    assert "\n" not in str(BudgetExceeded)


def test_a_job_past_its_running_time_is_stopped_and_says_so_and_frees_the_slot(recording):
    line = Scheduler(recording, budget=Budget(max_seconds=1.0, names={"max_seconds": "STYLIZER_MAX_SECONDS"}))
    try:
        greedy = line.submit(tagged(1), flt(ENDLESS), owner="api")
        patient = line.submit(tagged(2), flt(), owner="page", budget=Budget())  # a budget of its own
        guard = threading.Timer(30, greedy.cancel)  # without the budget: fail, not hang
        guard.start()
        with pytest.raises(BudgetExceeded, match=r"stopped after 1 s, the longest .* \(STYLIZER_MAX_SECONDS\)"):
            greedy.wait()
        assert greedy.state is State.FAILED
        assert patient.wait().image is not None
        assert patient.started - greedy.started < 30, "the slot was freed once the budget ran out"
        guard.cancel()
    finally:
        line.close()


def test_compatible_waiting_jobs_start_together_and_a_cancel_in_the_batch_stops_only_that_one(recording):
    line = Scheduler(recording, batch_size=3)
    try:
        blocker = line.submit(tagged(9), flt(ENDLESS))
        wait_for(lambda: blocker.state is State.RUNNING)
        a = line.submit(tagged(1), flt(40))
        other_size = line.submit(tagged(2, (36, 48)), flt(40))
        b = line.submit(tagged(3), flt(40))
        blocker.cancel()
        wait_for(lambda: a.state is State.RUNNING)
        assert b.state is State.RUNNING and other_size.state is State.WAITING
        b.cancel()
        assert a.wait().stats.iterations == 40
        assert b.state is State.CANCELLED
        assert other_size.wait().image.size == (36, 48)
    finally:
        line.close()
    assert recording.batches == [[9], [1, 3], [2]]


def test_a_batch_with_an_unreadable_photo_paints_the_others_and_reports_that_one(scheduler, tmp_path):
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"not an image")
    results = scheduler.paint_many([tagged(1), broken, tagged(3)], flt())
    assert isinstance(results[1], ImageError) and "broken.jpg" in str(results[1])
    assert results[0].image.size == results[2].image.size == (48, 36)


def test_as_a_painter_it_passes_progress_on_and_its_callers_cancel_stops_the_job(scheduler):
    seen: list[Progress] = []
    assert scheduler.paint(tagged(1), flt(8), on_progress=seen.append).stats.iterations == 8
    assert [p.iteration for p in seen] == list(range(1, 9))
    stop = threading.Event()
    threading.Timer(1.0, stop.set).start()
    with pytest.raises(Cancelled):
        scheduler.paint(tagged(2), flt(ENDLESS), cancel=stop.is_set)
    assert scheduler.jobs() == []


def test_the_estimate_follows_the_measured_speed_once_a_painting_has_finished(scheduler):
    assert scheduler.seconds_per_unit() is None
    first = scheduler.submit(tagged(1), flt(30))
    waiting = scheduler.submit(tagged(2), flt(30))
    assert scheduler.ahead(waiting) == Ahead(1, None), "no speed measured yet: no number is made up"
    first.wait()
    waiting.wait()
    rate = scheduler.seconds_per_unit()
    measured = waiting.ended - waiting.started
    assert rate is not None and rate * waiting.work == pytest.approx(measured, rel=0.9)
    again = scheduler.submit(tagged(3), flt(30))
    behind = scheduler.submit(tagged(4), flt(30))
    told = scheduler.ahead(behind)
    again.wait()
    behind.wait()
    real = behind.started - again.started
    assert told.position == 1 and told.start_in > 0
    # Loose here (a busy test machine); bench/concurrency.py measures how close it is.
    assert 0.3 * real <= told.start_in <= 3 * real + 0.5


def test_a_job_nobody_comes_to_follow_never_runs_and_one_left_running_stops(scheduler, recording):
    """A page whose stream never opened, a client that died between its two calls."""
    running = scheduler.submit(tagged(1), flt(ENDLESS))
    wait_for(lambda: running.state is State.RUNNING)
    forgotten = scheduler.submit(tagged(2), flt(), follow_within=0.5)
    followed = scheduler.submit(tagged(3), flt(), follow_within=0.5)
    followed_updates = followed.updates()
    assert isinstance(next(followed_updates), Ahead)
    time.sleep(1.0)
    running.cancel()
    assert followed.wait().image is not None
    assert forgotten.state is State.CANCELLED
    left = scheduler.submit(tagged(4), flt(ENDLESS), follow_within=2.0)
    wait_for(lambda: left.state is State.RUNNING)
    wait_for(lambda: left.state is State.CANCELLED, timeout=30)
    assert [batch[0] for batch in recording.batches] == [1, 3, 4]
