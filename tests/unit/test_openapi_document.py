"""What the OpenAPI document promises, read statically (the fuzz run in
tests/workflow/test_openapi_fuzz.py holds the API to it)."""

from __future__ import annotations

import json
import re

from api.app import create_app
from om.settings import Settings

ERROR = {"$ref": "#/components/schemas/ErrorBody"}
STATUSES = {
    ("get", "/health"): {"200"},
    ("get", "/queue"): {"200", "401", "403", "422", "503"},
    ("get", "/opportunities/{opportunity_id}"): {"200", "401", "404", "422", "503"},
    ("post", "/opportunities/{opportunity_id}/decisions"): {
        "200", "401", "403", "404", "409", "422", "429", "503",
    },
    ("post", "/opportunities/{opportunity_id}/recall"): {
        "200", "401", "403", "404", "409", "422", "429", "503",
    },
    ("post", "/opportunities/{opportunity_id}/resubmit"): {
        "200", "401", "403", "404", "409", "422", "429", "503",
    },
    ("post", "/intake/salesforce"): {"202", "401", "409", "413", "422", "503"},
    ("post", "/codec/decode"): {"200", "401", "403", "422"},
    ("post", "/codec/encode"): {"200", "401", "403", "422"},
    ("get", "/reports/kpi"): {"200", "401", "403", "422"},
    ("post", "/reports/simulate"): {"200", "401", "403", "422"},
}  # fmt: skip


def _document() -> dict:
    return create_app(Settings()).openapi()


def test_every_operation_declares_each_status_it_returns_with_one_error_body():
    document = _document()
    operations = {
        (method, path): operation
        for path, methods in document["paths"].items()
        for method, operation in methods.items()
    }
    assert {key: set(op["responses"]) for key, op in operations.items()} == STATUSES
    for operation in operations.values():
        for status, response in operation["responses"].items():
            if status >= "400":
                assert response["content"]["application/json"]["schema"] == ERROR
    assert "HTTPValidationError" not in json.dumps(document)
    body = document["components"]["schemas"]["ErrorBody"]
    assert {"code", "message", "errors"} <= set(body["properties"])


def test_bodies_headers_and_security_are_declared_and_every_ref_resolves():
    document = _document()
    intake = document["paths"]["/intake/salesforce"]["post"]
    schema = intake["requestBody"]["content"]["application/json"]["schema"]
    assert schema == {"$ref": "#/components/schemas/Opportunity-Input"}
    assert intake["security"] == []  # the signature authenticates it, not a bearer token
    (signature,) = intake["parameters"]
    assert (signature["name"], signature["in"], signature["required"]) == (
        "X-OM-Signature",
        "header",
        True,
    )
    for path in ("/codec/decode", "/codec/encode"):
        codec = document["paths"][path]["post"]
        assert codec["security"] == [{"HTTPBearer": []}]
        assert codec["requestBody"]["content"]["application/json"]["schema"] == {
            "$ref": "#/components/schemas/CodecPayloads"
        }
    for name in ("decisions", "recall", "resubmit"):
        operation = document["paths"][f"/opportunities/{{opportunity_id}}/{name}"]["post"]
        assert operation["requestBody"]["required"] is True
        assert operation["security"] == [{"HTTPBearer": []}]
    refs = set(re.findall(r"#/components/schemas/([\w\-]+)", json.dumps(document)))
    assert refs <= set(document["components"]["schemas"])
