"""Benchmarks: latency, MACs and accuracy per model x backend x precision, and the reports.

`runner.run_bench` is what `scjd-edge bench` calls; `report` is the project's one writer of
tables, JSON, CSV, markdown and plots.
"""
