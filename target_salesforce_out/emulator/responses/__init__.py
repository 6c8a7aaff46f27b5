"""Handlers: one module per Salesforce API, each handler ``handler(req: Request) -> Response``.

A handler parses the request, calls the models in ``req.backend`` and renders their answer; it
raises :class:`~..wire.ErrorResponse` to answer with an error at once. routes.py maps each
method and path to a handler.
"""
