"""``loyalty bench``: the engine's throughput and latency, measured against its targets.

A benchmark, not a test: it seeds a database of its own (set-based SQL), starts the API as
``loyalty serve`` would, drives it over HTTP from a separate load-generator process, runs the
bulk paths in process, and prints every figure beside its target and the database's ceiling.
"""
