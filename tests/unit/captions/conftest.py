"""Fixtures borrowed from the longform and provider tests: consumer deps over in-memory shards and
bucket (``deps``, ``clock``, ``shards``), a loopback fake provider (``server``) and the HTTP client."""

from tests.unit.synthesis.providers.conftest import http, server
from tests.unit.synthesis.test_longform import clock, deps, shards

__all__ = ["clock", "deps", "http", "server", "shards"]
