"""Credential delivery: workload bindings, the container endpoint, IMDS, credential files, the drill.

Entry points: :func:`stsmock.delivery.install.install` (the composition root calls it)
and ``stsmock.delivery.drill`` (``stsmock drill refresh``). The package root stays
import-free so ``stsmock.config`` can load the settings models without a cycle.
"""
