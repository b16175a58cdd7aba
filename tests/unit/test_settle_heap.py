"""``serve`` moves start-up objects out of the collector's sight once it is up (p99 under load)."""

from __future__ import annotations

import gc
import weakref

from stsmock.server import SETTLE_AFTER, settle_heap


def test_settle_heap_freezes_what_start_up_built_and_collects_what_it_dropped() -> None:
    class Cycle:
        def __init__(self) -> None:
            self.me = self

    gc.collect()
    before = gc.get_freeze_count()
    garbage = weakref.ref(Cycle())  # start-up garbage (a reference cycle): collected, not frozen forever
    survivor = Cycle()  # a start-up object still in use: frozen
    try:
        settle_heap()
        assert garbage() is None
        assert gc.get_freeze_count() > before
        assert not gc.is_finalized(survivor) and survivor.me is survivor
    finally:
        gc.unfreeze()
    assert 0 < SETTLE_AFTER <= 5  # after ready, so the first /healthz is not delayed by a full collection


def test_start_up_pauses_the_collector_until_the_heap_settles() -> None:
    from stsmock.heap import pause_collection, resume_collection

    assert gc.isenabled()
    pause_collection()
    try:
        assert not gc.isenabled()
        settle_heap()
        assert gc.isenabled()
    finally:
        resume_collection()
        gc.unfreeze()
    assert gc.isenabled()


def test_a_collector_disabled_by_the_embedder_stays_disabled() -> None:
    from stsmock.heap import pause_collection, resume_collection

    gc.disable()
    try:
        pause_collection()
        settle_heap()
        resume_collection()
        assert not gc.isenabled()
    finally:
        gc.enable()
        gc.unfreeze()
