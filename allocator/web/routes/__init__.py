"""The API's routers, one per resource: portfolios, runs, audit, health."""
