"""Benchmarks (`make bench`): each bench_*.py measures its own baseline in the same run and judges its
targets through bench/_harness.py."""
