"""Bogfør's benchmarks: every figure is a ratio against a baseline measured in the same run.

Absolute timings depend on the machine; a ratio against a baseline doing comparable work on
the same machine, in the same run, does not (much). `python -m bench` (or `make bench`) runs
every benchmark, prints one table and exits non-zero when a ratio misses its target. See
bench/README.md for what each benchmark measures and why its target is what it is.
"""
