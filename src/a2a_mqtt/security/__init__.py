"""What agents and payloads enforce (docs/security.md §6, docs/binding.md §8).

* ``bearer``, ``jwks``, ``authz``: per-request bearer tokens (``a2a-authorization``),
  verified against a JWKS fetched over HTTPS, with skill-level scopes.
* ``issuer``, ``jwks_server``: the local token issuer and its HTTPS JWKS endpoint.
* ``cards``: signed Agent Cards (RFC 8785 + JWS) and the trust policy.
* ``keys``, ``e2e``, ``e2e_wire``: ``ubsp-v1`` end-to-end encryption (JWE).

Modules are imported by name; nothing is re-exported here, so importing one part
never loads the JOSE stack for the others.
"""
