"""Old name, merged into ``bench/security_cost.py``: plain MQTT against TLS with a login
and broker ACLs (``SecureBroker``), side by side in one run.

Usage::

    python bench/secure_cost.py            # = security_cost.py --variants plain tls+acl
    python bench/secure_cost.py --quick    # 1 round, 100 requests (smoke test)

``--rounds N`` and ``--requests N`` (per cell, 1 and 100 in flight) keep their
meaning; everything else is ``bench/security_cost.py``'s.
"""

from __future__ import annotations

import argparse
import runpy
import sys
from pathlib import Path

if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--quick", action="store_true")
    parsed = parser.parse_args()
    if parsed.quick:
        parsed.rounds, parsed.requests = 1, 100
    n = str(parsed.requests)
    target = Path(__file__).resolve().with_name("security_cost.py")
    sys.argv = [str(target), "--rounds", str(parsed.rounds), "--sequential", n,
                "--parallel", n, "--variants", "plain", "tls+acl"]
    runpy.run_path(str(target), run_name="__main__")
