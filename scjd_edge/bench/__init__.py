"""Benchmarks: latency, MACs and accuracy per model x backend x precision, and the reports.

`runner.run_bench` is what `scjd-edge bench` calls (all rows timed in interleaved rounds by
`timing`, compared like for like by `ratios`); `report` is the project's one writer of
tables, JSON, CSV and markdown, `plots` draws the Pareto plot.
"""
