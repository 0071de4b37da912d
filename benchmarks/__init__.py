"""Benchmarks of issue 7: `python -m benchmarks` (see __main__.py)."""

from benchmarks.env import prepare_process_env

prepare_process_env()
