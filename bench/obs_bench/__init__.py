"""bench/observability_cost.py in parts: worker (one variant per process) and alone
(recording without I/O)."""
