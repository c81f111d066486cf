"""template.yaml, loaded once: its HTTP routes and the resources moto created from it."""

from __future__ import annotations

from leadscore.dev.template import http_routes, load_template

TEMPLATE = load_template()
ROUTES = {r.function: r for r in reversed(http_routes(TEMPLATE))}  # each function's first route (CollectFunction: POST /v1/{kind})


def created(names: list[str], logical_id: str) -> str:
    """The one created resource (table name or queue URL) named after a template logical id."""
    found = [n for n in names if n.rsplit("/", 1)[-1].endswith(f"-{logical_id}")]
    assert len(found) == 1, (logical_id, names)
    return found[0]
