"""Credential delivery: workload bindings, the container endpoint, IMDS, credential files, the drill.

Entry points: `stsmock.delivery.install` (the composition root builds the engine and runs its listeners)
and ``stsmock.delivery.drill`` (``stsmock drill refresh``). The package root stays
import-free so ``stsmock.config`` can load the settings models without a cycle.
"""
