"""The identity plane: an OIDC provider with keys, clients, users and grants.

It knows nothing about STS. Collaborators (clock, state store, audit sink,
revocation registry) are passed in; see :mod:`issuer.ports`.
"""
