"""The api Worker's HTTP API, runtime-neutral."""
