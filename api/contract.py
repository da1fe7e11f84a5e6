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

_PREFIX = "#/components/schemas/"
_REF = _PREFIX + "{model}"
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
    """Add the models `json_body` named to `app`'s OpenAPI components.

    FastAPI documents response models as they are serialized (a field with
    a default is always present, so required); a body is read as validated
    (such a field may be left out). Where FastAPI already has a component of
    the same name that differs, the body's is added as `<name>-Input` (the
    name FastAPI itself gives input schemas) and the request bodies and the
    added components point to it."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = generate()
            schemas = document.setdefault("components", {}).setdefault("schemas", {})
            renamed = {
                name: f"{name}-Input"
                for name, definition in _COMPONENTS.items()
                if name in schemas and schemas[name] != definition
            }
            for name, definition in _COMPONENTS.items():
                schemas.setdefault(renamed.get(name, name), _renamed(definition, renamed))
            for operation in _operations(document):
                if "requestBody" in operation:
                    operation["requestBody"] = _renamed(operation["requestBody"], renamed)
            app.openapi_schema = document
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def _renamed(node: Any, renamed: dict[str, str]) -> Any:
    """`node` with its `$ref`s to renamed components pointing to the new names."""
    if isinstance(node, dict):
        return {
            key: (
                _REF.format(model=renamed.get(value.rsplit("/", 1)[-1], value.rsplit("/", 1)[-1]))
                if key == "$ref" and isinstance(value, str) and value.startswith(_PREFIX)
                else _renamed(value, renamed)
            )
            for key, value in node.items()
        }
    if isinstance(node, list):
        return [_renamed(item, renamed) for item in node]
    return node


def _operations(document: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        operation
        for path in document.get("paths", {}).values()
        for operation in path.values()
        if isinstance(operation, dict)
    ]
