"""skface's version: the one place it is written (``pyproject.toml`` reads it from here).

Importing this module imports nothing else, so ``skface --version`` answers at once.
"""

__version__ = "0.1.0.dev0"
