"""Store layer: the SQLAlchemy tables and the repository the service uses (`repository`), and
their Alembic migrations (`migrations`).

May import everything below it (errors, model, core, solve, io, explain, whatif, service);
never the web or CLI layers.
"""
