"""The collector threshold is raised inside a governed read and always restored."""

from __future__ import annotations

import gc
import threading

import pytest

from governance import gcpause
from governance.models import Person


@pytest.fixture(autouse=True)
def default_threshold():
    saved = gc.get_threshold()
    gc.set_threshold(700, 10, 10)
    yield
    gc.set_threshold(*saved)


def test_raised_inside_and_restored_after_nested_blocks():
    with gcpause.relaxed():
        assert gc.get_threshold()[0] == gcpause.THRESHOLD0
        with gcpause.relaxed():
            assert gc.get_threshold()[0] == gcpause.THRESHOLD0
        assert gc.get_threshold()[0] == gcpause.THRESHOLD0
    assert gc.get_threshold() == (700, 10, 10)


def test_restored_when_the_block_raises():
    with pytest.raises(RuntimeError), gcpause.relaxed():
        raise RuntimeError("boom")
    assert gc.get_threshold() == (700, 10, 10)


def test_overlapping_threads_restore_the_original_threshold():
    inside = threading.Barrier(8)
    release = threading.Event()

    def reader() -> None:
        with gcpause.relaxed():
            inside.wait()
            release.wait()

    threads = [threading.Thread(target=reader) for _ in range(8)]
    for t in threads:
        t.start()
    release.set()
    for t in threads:
        t.join()
    assert gc.get_threshold() == (700, 10, 10)


def test_a_disabled_threshold_is_left_alone():
    gc.set_threshold(0)
    with gcpause.relaxed():
        assert gc.get_threshold()[0] == 0
    assert gc.get_threshold()[0] == 0


@pytest.mark.django_db
def test_a_governed_read_runs_relaxed_and_restores(org):
    seen = []

    queryset = Person.objects.all()
    iterable = queryset._iterable_class

    class Spy(iterable):  # type: ignore[misc,valid-type]
        def __iter__(self):
            seen.append(gc.get_threshold()[0])
            yield from super().__iter__()

    queryset._iterable_class = Spy
    people = list(queryset)
    assert people
    assert seen == [gcpause.THRESHOLD0]
    assert gc.get_threshold() == (700, 10, 10)
