"""Fixtures for provider tests: a loopback fake provider server and the local HTTP client."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from local_runtime.http_client import LocalHttpClient
from tests.provider_server import FakeServer


@pytest.fixture
async def server() -> AsyncIterator[FakeServer]:
    fake = FakeServer()
    await fake.start()
    try:
        yield fake
    finally:
        await fake.stop()


@pytest.fixture
def http() -> LocalHttpClient:
    return LocalHttpClient()
