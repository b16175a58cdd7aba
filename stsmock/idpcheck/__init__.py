"""``stsmock check``: does IdP X work with relying party Y, and what to configure (pure)."""

from stsmock.idpcheck.facts import from_documents, from_preset
from stsmock.idpcheck.render import markdown_table, matrix
from stsmock.idpcheck.rules import PROFILES, IdpFacts, Verdict, check

__all__ = ["PROFILES", "IdpFacts", "Verdict", "check", "from_documents", "from_preset", "markdown_table", "matrix"]
