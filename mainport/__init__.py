"""The composition root: the `mainport` CLI and the local supervisor of `mainport up`.

The only package allowed to import every other one (see the import contracts in pyproject.toml).
"""
