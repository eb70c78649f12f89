from __future__ import annotations

import os
from pathlib import Path

import pytest

from local_runtime.data_dir_lock import DataDirInUseError, DataDirLock
from local_runtime.runtime import LocalRuntime


def test_a_second_lock_on_the_same_dir_is_refused_naming_the_holder(tmp_path: Path) -> None:
    first = DataDirLock.acquire(tmp_path)
    try:
        with pytest.raises(DataDirInUseError, match=rf"pid {os.getpid()}\b") as caught:
            DataDirLock.acquire(tmp_path)
        assert "\n" not in str(caught.value)
        assert str(tmp_path) in str(caught.value)
    finally:
        first.release()


def test_a_released_lock_can_be_taken_again(tmp_path: Path) -> None:
    DataDirLock.acquire(tmp_path).release()
    lock = DataDirLock.acquire(tmp_path)
    lock.release()
    lock.release()  # twice is harmless


def test_other_dirs_are_independent(tmp_path: Path) -> None:
    a = DataDirLock.acquire(tmp_path / "a")
    b = DataDirLock.acquire(tmp_path / "b")
    a.release()
    b.release()


async def test_two_runtimes_on_one_data_dir_are_refused_until_the_first_stops(tmp_path: Path) -> None:
    first = LocalRuntime(tmp_path, {}, port=0, cron_interval=0)
    try:
        with pytest.raises(DataDirInUseError, match="in use"):
            LocalRuntime(tmp_path, {}, port=0, cron_interval=0)
    finally:
        await first.stop()
    second = LocalRuntime(tmp_path, {}, port=0, cron_interval=0)
    await second.stop()
