from __future__ import annotations

import pytest

from shared.jobs.reaper_state import ReaperStateStore
from tests.fakes import MemorySql


@pytest.fixture
def store() -> ReaperStateStore:
    return ReaperStateStore(MemorySql())


def test_only_one_of_two_runs_gets_the_lease(store: ReaperStateStore) -> None:
    first = store.lease("reaper", "run-a", now=100, until=180)
    second = store.lease("reaper", "run-b", now=101, until=181)
    assert first["acquired"] is True and second["acquired"] is False
    assert second["holder"] == "run-a" and second["leaseUntil"] == 180


def test_an_expired_lease_passes_to_the_next_run_and_the_old_holder_cannot_save(store: ReaperStateStore) -> None:
    store.lease("reaper", "run-a", now=100, until=180)
    assert store.lease("reaper", "run-b", now=180, until=260)["acquired"] is True
    assert store.save("reaper", "run-a", 300, {"cursor": "x"}) is False
    assert store.save("reaper", "run-b", 300, {"cursor": "audio/2027/01/01/k"}) is True
    assert store.lease("reaper", "run-c", now=200, until=280, peek=True)["state"] == {"cursor": "audio/2027/01/01/k"}


def test_releasing_keeps_the_state_and_frees_the_lease(store: ReaperStateStore) -> None:
    store.lease("reaper", "run-a", now=100, until=180)
    assert store.save("reaper", "run-a", 0, {"cursor": "k", "passStartedAt": 99.5}) is True
    taken = store.lease("reaper", "run-b", now=101, until=181)
    assert taken["acquired"] is True and taken["state"] == {"cursor": "k", "passStartedAt": 99.5}


def test_the_holder_renews_its_own_lease(store: ReaperStateStore) -> None:
    store.lease("reaper", "run-a", now=100, until=180)
    assert store.lease("reaper", "run-a", now=170, until=250)["acquired"] is True
    assert store.lease("reaper", "run-b", now=200, until=280)["acquired"] is False


def test_peek_takes_nothing(store: ReaperStateStore) -> None:
    assert store.lease("reaper", "dry", now=100, until=180, peek=True)["acquired"] is False
    assert store.lease("reaper", "run-a", now=100, until=180)["acquired"] is True


def test_state_is_capped(store: ReaperStateStore) -> None:
    store.lease("reaper", "run-a", now=100, until=180)
    with pytest.raises(ValueError):
        store.save("reaper", "run-a", 180, {"cursor": "k" * 5000})
