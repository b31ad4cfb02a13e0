"""Store layer: the SQLAlchemy tables and the repository the service uses (`repository`), and
their Alembic migrations (`migrations`).

May import everything below it, but imports only the light service modules (jobs,
portfolios, ledger, keys, settings): `import allocator.store` loads no solver (a test checks
it). Never the web or CLI layers.
"""
