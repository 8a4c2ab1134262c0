"""HTTP routes, thin: parse and validate parameters, call a query, serialize.

The resource routers are built from the settings (`build_router(settings)`) because the bounds
of `limit` are settings, and the OpenAPI schema must state the bounds actually enforced.
"""
