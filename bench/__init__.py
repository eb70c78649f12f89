"""Benchmarks of the pipeline on the local runtime; ``python -m bench`` runs them all.

Each module measures one thing and returns plain data; ``report`` turns the
results into ``docs/benchmarks.md``. Nothing here is a test assertion: the
numbers describe one machine on one day (the report says which).
"""
