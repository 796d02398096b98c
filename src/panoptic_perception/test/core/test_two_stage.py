import threading
import time

import pytest

from panoptic_perception.core.two_stage import TwoStageWorker


def make_worker(threaded: bool = True, depth: int = 8):
    dropped, errors = [], []
    worker = TwoStageWorker(depth, lambda: dropped.append(1), errors.append, threaded=threaded)
    return worker, dropped, errors


def test_jobs_finish_in_arrival_order_and_the_worker_drains():
    worker, dropped, errors = make_worker(depth=32)  # room for every job: none may be dropped
    done = []
    for k in range(20):
        worker.submit(lambda k=k: (lambda: done.append(k)))
    assert worker.wait_idle(10.0)
    assert done == list(range(20)) and not dropped and not errors
    worker.close()


def test_the_second_stage_of_one_job_overlaps_the_first_stage_of_the_next():
    worker, _, _ = make_worker()
    second_started, first_of_next_ran = threading.Event(), threading.Event()

    def second() -> None:
        second_started.set()
        first_of_next_ran.wait(5.0)  # blocks until job 2's first stage has run on the other thread

    worker.submit(lambda: second)
    assert second_started.wait(5.0)
    worker.submit(lambda: first_of_next_ran.set())
    assert first_of_next_ran.wait(5.0)
    assert worker.wait_idle(5.0)
    worker.close()


def test_a_full_queue_drops_the_oldest_waiting_job_and_counts_it():
    worker, dropped, _ = make_worker(depth=2)
    release, ran = threading.Event(), []
    worker.submit(lambda: release.wait(5.0) and None)  # occupies the first stage
    time.sleep(0.1)
    for k in range(4):
        worker.submit(lambda k=k: ran.append(k))
    assert len(dropped) == 2  # jobs 0 and 1 waited longest
    own = []
    worker.submit(lambda: ran.append("own"), on_drop=lambda: own.append(1))
    worker.submit(lambda: ran.append(4))
    worker.submit(lambda: ran.append(5))  # these three drop jobs 2 and 3 (the worker's counter), then "own" (its own)
    assert len(dropped) == 4 and own == [1]
    release.set()
    assert worker.wait_idle(5.0)
    assert ran == [4, 5]
    worker.close()


def test_an_error_in_a_stage_is_reported_and_the_worker_goes_on():
    worker, _, errors = make_worker()
    done = []

    def broken():
        raise ValueError("bad sweep")

    worker.submit(broken)
    worker.submit(lambda: (lambda: 1 / 0))
    worker.submit(lambda: (lambda: done.append("ok")))
    assert worker.wait_idle(5.0)
    assert [type(e) for e in errors] == [ValueError, ZeroDivisionError] and done == ["ok"]
    worker.close()


def test_unthreaded_both_stages_run_inside_submit():
    worker, _, errors = make_worker(threaded=False)
    done = []
    worker.submit(lambda: (lambda: done.append(threading.current_thread())))
    assert done == [threading.current_thread()] and worker.idle()
    worker.submit(lambda: 1 / 0)
    assert len(errors) == 1


def test_a_closed_worker_refuses_jobs_and_a_bad_depth_is_refused():
    worker, _, _ = make_worker()
    worker.close()
    with pytest.raises(RuntimeError, match="closed"):
        worker.submit(lambda: None)
    with pytest.raises(ValueError, match="depth"):
        TwoStageWorker(0, lambda: None, lambda e: None)
