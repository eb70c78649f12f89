"""Pipelines a user could build instead of this one, measured by the bench beside it (bench/throughput.py)."""
