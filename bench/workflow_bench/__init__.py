"""bench/workflow_overhead.py in parts: throughput (1 supervisor against 3 on PostgreSQL)
(the entry script stays the command and keeps the overhead-per-step part)."""
