"""The shared Stylizer under concurrent use: a request cancelled while it waits does no work,
and a process forked while it was in use starts from a clean state."""

from __future__ import annotations

import os
import threading
import time

import pytest
import torch

from conftest import PAINTING, PHOTO, SECOND_PAINTING
from stylizer import Filter, Stylizer
from stylizer.errors import Cancelled
from stylizer.vgg import VGGFeatures


def test_a_request_cancelled_while_waiting_computes_nothing(stylizer):
    started, stop_first = threading.Event(), threading.Event()
    first_job = Filter(styles=(PAINTING,), size=64, scales=1, iterations=10_000)

    def first():
        with pytest.raises(Cancelled):
            stylizer.stylize(PHOTO, first_job, on_progress=lambda p: started.set(), cancel=stop_first)

    worker = threading.Thread(target=first)
    worker.start()
    assert started.wait(60)
    # From here on, every pass through the network is recorded by its picture's size: the
    # first painting's are 64 px, so any other one is work done for the cancelled request,
    # whatever it computed (targets, features, a first iteration) and whatever cached it.
    passes: list[tuple[int, ...]] = []
    hook = torch.nn.modules.module.register_module_forward_pre_hook(
        lambda module, args: passes.append(tuple(args[0].shape[-2:])) if isinstance(module, VGGFeatures) else None
    )
    waiting_side = 72  # a size no other test uses, so its targets can only come from this request
    second_job = Filter(styles=(SECOND_PAINTING,), size=waiting_side, scales=1, iterations=5)
    second_cancel = threading.Event()
    outcome = {}

    def second():
        try:
            stylizer.stylize(PHOTO, second_job, cancel=second_cancel)
        except Cancelled:
            outcome["cancelled"] = True

    waiter = threading.Thread(target=second)
    waiter.start()
    deadline = time.monotonic() + 60
    while len(passes) < 3 and time.monotonic() < deadline:  # the first painting goes on meanwhile
        time.sleep(0.01)
    second_cancel.set()  # the user gives up while the first painting still holds the stylizer
    stop_first.set()
    worker.join(30)
    waiter.join(30)
    hook.remove()
    assert outcome == {"cancelled": True}
    assert passes and all(max(shape) == first_job.size for shape in passes), f"the cancelled request ran: {set(passes)}"
    assert not [key for key in stylizer.styles.targets.keys() if key[1] == waiting_side], "its style targets were computed anyway"


def test_a_forked_process_gets_fresh_locks_and_no_running_previews(monkeypatch):
    """A GPU worker forked while a painting held the lock and a preview was being painted
    inherits both mid-state: without `reset_after_fork` it would wait for them forever."""
    fresh = Stylizer(device="cpu", precision="fp32")
    previewing, release = threading.Event(), threading.Event()

    def slow_preview(photo, filter):
        previewing.set()
        release.wait(30)
        return photo

    monkeypatch.setattr(fresh.previews, "_paint", slow_preview)
    holder = threading.Thread(target=lambda: fresh._lock.acquire() and release.wait(30) and fresh._lock.release())
    preview = threading.Thread(target=lambda: fresh.preview(PHOTO, Filter(styles=(PAINTING,), size=32)))
    holder.start()
    preview.start()
    assert previewing.wait(30) and fresh._lock.locked() and fresh.previews.running == 1
    pid = os.fork()
    if pid == 0:  # the child: only this thread exists, the lock's holder and the preview do not
        code = 1
        try:
            inherited = not fresh._lock.acquire(timeout=0.2) and fresh.previews.running == 1
            fresh.reset_after_fork()
            started = time.monotonic()
            paused = fresh.previews.between_iterations(None)()
            fresh_state = (fresh._lock.acquire(timeout=1) and fresh.previews.running == 0 and not paused
                           and time.monotonic() - started < 0.5)
            code = 0 if inherited and fresh_state else 1
        finally:
            os._exit(code)
    release.set()
    holder.join(30)
    preview.join(30)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0, "the child kept the parent's held lock or running preview"
    assert fresh.previews.running == 0 and not fresh._lock.locked(), "the parent is untouched"


def test_a_flood_of_previews_pauses_a_painting_for_at_most_its_bounded_share(stylizer):
    """Previews run first, but a client looping on them cannot starve a painting: over a
    painting's life it pauses for them at most PREVIEW_PAUSE_S plus PREVIEW_SHARE of its time."""
    from stylizer.preview import PREVIEW_PAUSE_S, PREVIEW_SHARE

    flooding = threading.Event()
    flood_filter = Filter(styles=(PAINTING,), size=96)

    def flood() -> None:
        while not flooding.is_set():
            stylizer.preview(PHOTO, flood_filter)

    threads = [threading.Thread(target=flood, daemon=True) for _ in range(2)]  # always one running
    for thread in threads:
        thread.start()
    try:
        check = stylizer.previews.between_iterations(None)
        started = time.monotonic()
        paused = 0.0
        while time.monotonic() - started < 8:
            before = time.monotonic()
            check()
            paused += time.monotonic() - before
            time.sleep(0.05)  # an iteration's work
        elapsed = time.monotonic() - started
    finally:
        flooding.set()
        for thread in threads:
            thread.join(30)
    assert paused > PREVIEW_PAUSE_S / 2, "previews still come first while the share allows"
    assert paused <= PREVIEW_PAUSE_S + PREVIEW_SHARE * elapsed + 0.5, (paused, elapsed)
