"""The web console at ``/ui``: server-rendered HTML from autoescaped Jinja2 templates, no JavaScript.

Pages: an overview (issuers, keys, clients, roles and their policies), the audit log as a decision
timeline, a JWT decoder that runs the STS's own verification pipeline, and an assume-role
simulator. Auth is the admin token, entered once on ``/ui/login`` (see ``auth.py``).

``routes.py`` is the aiohttp side; ``pages.py`` computes each page's data from the runtime's
collaborators; ``render.py`` (Jinja2) is imported on the first page view only.
"""

from __future__ import annotations

from .routes import add_routes

__all__ = ["add_routes"]
