"""bench/security_cost.py in parts: the scene (brokers, agents, requesters) of every variant."""
