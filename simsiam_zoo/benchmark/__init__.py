"""`simsiam-zoo benchmark`: which backbone for this data? Models x datasets x protocols, with fair baselines, into
a leaderboard (grid.py: what runs; cells.py: one resumable cell; leaderboard.py: the tables; run.py: the grid)."""

from simsiam_zoo.benchmark.run import run_benchmark

__all__ = ["run_benchmark"]
