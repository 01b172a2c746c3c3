"""OpenAPI schema post-processing: every operation documents the error answers any API view
can give (DRF's authentication, permissions, throttles, validation, not found), so that a
client, or a schema fuzzer, finds every status code it can meet described."""

from __future__ import annotations

ERROR = {
    "type": "object",
    "properties": {"detail": {"type": "string"}},
    "required": ["detail"],
}
# A validation error: messages by field (or by list index), or one "detail".
VALIDATION_ERROR = {"type": "object", "additionalProperties": True}

COMMON = {
    "400": ("ValidationError", "The request is invalid: the messages say why, by field."),
    "401": ("Error", "No credentials, or a token that is wrong, expired or revoked."),
    "403": ("Error", "Signed in, but this role may not do this."),
    "404": ("Error", "No such object (another client's objects are not found either)."),
    "413": ("Error", "The request body is larger than this endpoint accepts."),
    "415": ("Error", "The body is not of a type this endpoint reads, or cannot be parsed as one."),
    "429": ("Error", "Too many requests: wait the seconds in Retry-After."),
}
WITH_BODY_ONLY = {"413", "415"}


def document_error_responses(result, generator, request, public):
    components = result.setdefault("components", {}).setdefault("schemas", {})
    components.setdefault("Error", ERROR)
    components.setdefault("ValidationError", VALIDATION_ERROR)
    for path, operations in result.get("paths", {}).items():
        if not path.startswith("/api/"):
            continue
        for method, operation in operations.items():
            if method not in {"get", "post", "put", "patch", "delete"}:
                continue
            responses = operation.setdefault("responses", {})
            for code, (schema, description) in COMMON.items():
                if code in responses or (code in WITH_BODY_ONLY and "requestBody" not in operation):
                    continue
                response = {
                    "description": description,
                    "content": {
                        "application/json": {"schema": {"$ref": f"#/components/schemas/{schema}"}}
                    },
                }
                if code == "429":
                    response["headers"] = {
                        "Retry-After": {"schema": {"type": "integer"}, "required": True}
                    }
                responses[code] = response
    return result
