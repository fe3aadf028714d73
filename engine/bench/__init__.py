"""`checkout bench`: checkout-ops against baseline programs, on the same servers, in the same run.

- `stats.py`: rounds in, figures out (medians, percentiles, CPU per saga, ratios, JSON).
- `processes.py`: the child processes the bench starts, and their CPU from /proc.
- `programs.py`: what each program runs (its processes) and how one order of it is started.
- `runner.py`: servers, processes, warm-up, alternating rounds, measurement.
- `baselines/`: the yardsticks: the minimal two-step saga, its naive port, the empty workflow.
"""
