"""bench/pool_scaling.py in parts: member, cpu, processes, measure, spy, report, main
(the entry script stays the command)."""
