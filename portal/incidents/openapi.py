"""OpenAPI 3.1 description of the public, read-only incidents API."""

from __future__ import annotations

from flask import current_app

from portal.incidents.models import AreaKind, IncidentType, Severity, State, UpdateStatus


def _translated(nullable: bool = False) -> dict:
    schema = {"$ref": "#/components/schemas/TranslatedText"}
    return {"anyOf": [schema, {"type": "null"}]} if nullable else schema


def _time(nullable: bool = False) -> dict:
    return {"type": ["string", "null"] if nullable else "string", "format": "date-time"}


def _enum(values) -> dict:
    return {"type": "string", "enum": [v.value for v in values]}


def openapi_document() -> dict:
    """Build the document (servers from ``PUBLIC_BASE_URL``)."""
    base = current_app.config["PUBLIC_BASE_URL"].rstrip("/")
    error = {"description": "Error", "content": {"application/json": {
        "schema": {"$ref": "#/components/schemas/Error"}}}}
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Express Parcel Incident Portal: public incidents API",
            "version": "1.0.0",
            "description": "Read-only: the incidents and updates customers see on the "
                           "public site, with texts in zh_Hans, zh_Hant and en. Responses "
                           "carry ETag and Cache-Control; send If-None-Match to get 304.",
        },
        "servers": [{"url": f"{base}/api/v1"}],
        "paths": {
            "/incidents": {"get": {
                "operationId": "listIncidents",
                "summary": "Public incidents, newest first",
                "parameters": [
                    {"name": "state", "in": "query", "required": False, "schema": {
                        "type": "string",
                        "enum": ["active", *[s.value for s in State]]}},
                    {"name": "area", "in": "query", "required": False,
                     "schema": {"type": "string", "maxLength": 120}},
                    {"name": "limit", "in": "query", "required": False, "schema": {
                        "type": "integer", "minimum": 1, "maximum": 100, "default": 50}},
                    {"name": "before", "in": "query", "required": False,
                     "description": "next_before of the previous page",
                     "schema": {"type": "integer"}},
                ],
                "responses": {
                    "200": {"description": "A page of incidents", "content": {
                        "application/json": {"schema": {
                            "$ref": "#/components/schemas/IncidentList"}}}},
                    "304": {"description": "Not modified"},
                    "400": error,
                },
            }},
            "/incidents/{reference}": {"get": {
                "operationId": "getIncident",
                "summary": "One public incident with its timeline",
                "parameters": [{"name": "reference", "in": "path", "required": True,
                                "schema": {"type": "string", "example": "IN-2345-6789"}}],
                "responses": {
                    "200": {"description": "The incident", "content": {"application/json": {
                        "schema": {"$ref": "#/components/schemas/IncidentDetail"}}}},
                    "304": {"description": "Not modified"},
                    "404": error,
                },
            }},
        },
        "components": {"schemas": {
            "TranslatedText": {
                "type": "object", "required": ["zh_Hans", "zh_Hant", "en"],
                "properties": {k: {"type": "string"} for k in ("zh_Hans", "zh_Hant", "en")},
            },
            "Area": {"type": "object", "required": ["kind", "code", "name"], "properties": {
                "kind": _enum(AreaKind), "code": {"type": "string"},
                "name": _translated()}},
            "Incident": {
                "type": "object",
                "required": ["reference", "url", "title", "summary", "type", "severity",
                             "state", "areas", "started_at", "published_at"],
                "properties": {
                    "reference": {"type": "string"}, "url": {"type": "string",
                                                            "format": "uri"},
                    "title": _translated(), "summary": _translated(),
                    "type": _enum(IncidentType), "severity": _enum(Severity),
                    "state": _enum(State),
                    "areas": {"type": "array", "items": {"$ref": "#/components/schemas/Area"}},
                    "started_at": _time(), "expected_recovery_at": _time(True),
                    "resolved_at": _time(True), "published_at": _time(),
                    "last_update_at": _time(True), "standing_offer": _translated(True),
                },
            },
            "Update": {
                "type": "object", "required": ["id", "state", "status", "published_at"],
                "properties": {
                    "id": {"type": "integer"}, "state": _enum(State),
                    "status": {"type": "string", "enum": [UpdateStatus.PUBLISHED.value,
                                                          UpdateStatus.WITHDRAWN.value]},
                    "published_at": _time(), "body": _translated(True),
                    "body_html": _translated(True), "corrected_at": _time(True),
                    "correction_note": _translated(True), "withdrawn_at": _time(True),
                    "withdrawal_reason": _translated(True),
                },
            },
            "IncidentDetail": {"allOf": [
                {"$ref": "#/components/schemas/Incident"},
                {"type": "object", "required": ["updates"], "properties": {
                    "updates": {"type": "array",
                                "items": {"$ref": "#/components/schemas/Update"}}}},
            ]},
            "IncidentList": {"type": "object", "required": ["incidents", "next_before"],
                             "properties": {
                                 "incidents": {"type": "array", "items": {
                                     "$ref": "#/components/schemas/Incident"}},
                                 "next_before": {"type": ["integer", "null"]}}},
            "Error": {"type": "object", "required": ["error"], "properties": {
                "error": {"type": "object", "properties": {
                    "status": {"type": "integer"}, "title": {"type": "string"},
                    "message": {"type": "string"}}}}},
        }},
    }
