"""Route-table machinery: match a method and path against (methods, pattern, handler) entries.

The tables themselves are in routes.py. Entries are tried in order; the first whose methods
include the request's method and whose pattern matches the whole path wins, and the pattern's
named groups become ``req.params``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from .wire import ErrorResponse, Request, Response

Handler = Callable[[Request], Response]
ANY = "*"


@dataclass(frozen=True)
class Route:
    """One entry of a route table.

    Attributes:
        methods: Methods it answers; empty for every method.
        pattern: Regular expression the whole path must match.
        handler: The function that answers.
    """

    methods: frozenset[str]
    pattern: re.Pattern[str]
    handler: Handler


def route(methods: str, pattern: str, handler: Handler) -> Route:
    """Build a route table entry.

    Args:
        methods: ``"GET"``, ``"GET,POST"``, or ``ANY`` (``"*"``) for every method.
        pattern: Regular expression for the whole path; named groups become path parameters.
        handler: ``handler(req) -> Response``.

    Returns:
        The entry.
    """
    names = frozenset() if methods == ANY else frozenset(m.strip() for m in methods.split(","))
    return Route(names, re.compile(pattern), handler)


@dataclass(frozen=True)
class Match:
    """The entry a request resolved to, with the path parameters its pattern captured."""

    handler: Handler
    params: dict[str, str]


def find(routes: Sequence[Route], method: str, path: str) -> Match | None:
    """The first entry of ``routes`` that answers ``method`` on ``path``, or None.

    Args:
        routes: A route table.
        method: HTTP method.
        path: The path in the form the table's patterns are written for.

    Returns:
        The match, or None.
    """
    for entry in routes:
        if entry.methods and method not in entry.methods:
            continue
        found = entry.pattern.fullmatch(path)
        if found is not None:
            params = {k: v for k, v in found.groupdict().items() if v is not None}
            return Match(entry.handler, params)
    return None


def call(handler: Handler, req: Request) -> Response:
    """Run a handler; an :class:`ErrorResponse` it raises becomes the answer."""
    try:
        return handler(req)
    except ErrorResponse as exc:
        return exc.response
