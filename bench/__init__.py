"""Benchmark scripts (`python bench/bench_*.py`) and the baselines they compare against; never imported at runtime."""
