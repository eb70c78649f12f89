"""Fixtures borrowed from the longform and provider tests: consumer deps over in-memory shards and
bucket (``deps``; ``clock`` and ``shards`` come from tests/unit/conftest.py), a loopback fake provider (``server``) and the HTTP client."""

from tests.unit.synthesis.providers.conftest import http, server
from tests.unit.synthesis.test_longform import deps

__all__ = ["deps", "http", "server"]
