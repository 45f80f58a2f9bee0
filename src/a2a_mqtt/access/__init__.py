"""Broker-enforced access: identities, the ACL policy derived from the binding's
topic rules, its exports (Mosquitto dynamic security, ACL file, EMQX), a local CA,
credentials and profiles, and runtime identity management.

``identity``, ``policy``, ``export`` and ``secrets`` are pure; ``ca`` and
``credentials`` write files; ``control`` talks to a running broker.
"""

from a2a_mqtt.access.credentials import Credentials, load_profile, save_profile
from a2a_mqtt.access.identity import ALL_ORGS, ROLES, Grant, Identity, Role
from a2a_mqtt.access.policy import Rule, rules_for

__all__ = ["ALL_ORGS", "ROLES", "Credentials", "Grant", "Identity", "Role", "Rule",
           "load_profile", "rules_for", "save_profile"]
