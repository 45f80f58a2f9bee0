"""bench/a2a_compare.py in parts: settings, servers, clients, scenarios, profile,
micro, report, main (the entry script stays the command)."""
