"""The settle logic on its own: a file is handed over once, only after it stops changing."""

from __future__ import annotations

import threading
import time

from daemon.files import free_name, is_in_progress
from daemon.watcher import Settler


def _next(settler, timeout=5.0):
    stop = threading.Event()
    timer = threading.Timer(timeout, lambda: (stop.set(), settler.wake()))
    timer.start()
    try:
        return settler.next_ready(stop.is_set)
    finally:
        timer.cancel()


def test_a_growing_file_is_handed_over_once_after_its_last_write(tmp_path):
    # Writes 0.1 s apart against a 1 s quiet period: a busy machine may delay a write by
    # several times 0.1 s without the file looking finished.
    settler = Settler(settle_seconds=1.0)
    path = tmp_path / "growing.jpg"
    path.write_bytes(b"a")
    settler.touch(path)
    last_write = []

    def keep_writing():  # no events: only the size check can notice
        for _ in range(5):
            time.sleep(0.1)
            with open(path, "ab") as handle:
                handle.write(b"more")
            last_write[:] = [time.monotonic()]

    writer = threading.Thread(target=keep_writing)
    writer.start()
    assert _next(settler, timeout=30) == path
    handed_over = time.monotonic()
    writer.join()
    assert path.read_bytes() == b"a" + b"more" * 5, "handed over before the last write"
    assert handed_over - last_write[0] >= 1.0 - 0.05, "handed over before a quiet period after the last write"
    assert _next(settler, timeout=0.5) is None and len(settler) == 0


def test_deleted_files_are_dropped_and_earliest_deadline_comes_first(tmp_path):
    settler = Settler(settle_seconds=0.1)
    first, second, gone = tmp_path / "1.jpg", tmp_path / "2.jpg", tmp_path / "gone.jpg"
    for path in (first, second, gone):
        path.write_bytes(b"x")
    settler.touch(first)
    settler.touch(gone)
    settler.touch(second)
    settler.touch(first)  # touched again: now the last in line
    gone.unlink()
    assert [_next(settler), _next(settler)] == [second, first]
    assert _next(settler, timeout=0.3) is None


def test_temporary_names_and_free_names(tmp_path):
    for name in ("a.jpg.part", "b.crdownload", ".hidden.jpg", ".~lock.a.jpg#", "x.TMP", "~$doc.jpg"):
        assert is_in_progress(name), name
    assert not is_in_progress("holiday.jpg")
    (tmp_path / "a.jpg").write_bytes(b"")
    assert free_name(tmp_path / "a.jpg") == tmp_path / "a-2.jpg"
    assert free_name(tmp_path / "a.jpg", taken={tmp_path / "a-2.jpg"}) == tmp_path / "a-3.jpg"
