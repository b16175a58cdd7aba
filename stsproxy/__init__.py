"""The credential plane: an STS front end.

Parse the Query request, verify the web-identity token against a trusted
issuer's JWKS, evaluate the role's trust policy, intersect permissions with the
session policy, then mint credentials or forward upstream, and render XML.
"""
