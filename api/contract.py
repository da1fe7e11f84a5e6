"""What the OpenAPI document says beyond what FastAPI infers from a route.

Some operations read their body themselves: decisions and rep actions parse
it only after the caller is authorized, intake only after the signature is
checked over the raw bytes, the codec through protobuf's JSON. FastAPI would
then document no body at all, so `json_body` declares it, and
`install_contract` adds the models it names to the document's components.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from pydantic import BaseModel

_REF = "#/components/schemas/{model}"
_COMPONENTS: dict[str, dict[str, Any]] = {}


def json_body(model: type[BaseModel], description: str = "") -> dict[str, Any]:
    """`openapi_extra` declaring a required JSON body of `model`."""
    schema = model.model_json_schema(ref_template=_REF)
    for name, definition in schema.pop("$defs", {}).items():
        _COMPONENTS.setdefault(name, definition)
    _COMPONENTS.setdefault(model.__name__, schema)
    body: dict[str, Any] = {
        "required": True,
        "content": {"application/json": {"schema": {"$ref": _REF.format(model=model.__name__)}}},
    }
    if description:
        body["description"] = description
    return {"requestBody": body}


def install_contract(app: FastAPI) -> None:
    """Add the models `json_body` named to `app`'s OpenAPI components (FastAPI's
    own schema of a model wins where both have one: responses are checked
    against it)."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = generate()
            schemas = document.setdefault("components", {}).setdefault("schemas", {})
            for name, definition in _COMPONENTS.items():
                schemas.setdefault(name, definition)
            app.openapi_schema = document
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
