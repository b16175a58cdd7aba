"""pytest plugin: fixtures for an in-process stsmock (filled in below)."""
