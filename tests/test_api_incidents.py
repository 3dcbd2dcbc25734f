"""The read-only incidents API and its OpenAPI description."""

from __future__ import annotations

import pytest
from test_incidents_support import EN_TITLE, declare
from test_staff_support import make_staff


@pytest.fixture(autouse=True)
def _staff(app):
    app.config["PASSWORD_HASH_FAST"] = True
    make_staff(app, "commander")


def test_list_shows_public_incidents_in_three_languages(app, client):
    ref = declare(app, publish=True)
    declare(app, title=("草稿", "Draft"))
    declare(app, drill=True)
    response = client.get("/api/v1/incidents")
    assert response.status_code == 200 and response.is_json
    body = response.get_json()
    assert [i["reference"] for i in body["incidents"]] == [ref]
    incident = body["incidents"][0]
    assert incident["title"] == {"zh_Hans": "台风影响广东派送", "zh_Hant": "颱風影響廣東派送",
                                 "en": EN_TITLE}
    assert incident["url"] == f"http://portal.test/incidents/{ref}"
    assert {"kind": "hub", "code": "深圳分拨中心"}.items() <= incident["areas"][1].items()
    assert incident["started_at"].endswith("Z")
    assert body["next_before"] is None


def test_detail_has_the_timeline_sanitised(app, client):
    from portal.extensions import db
    from portal.incidents import queries, services
    from portal.staff.models import StaffUser

    ref = declare(app, publish=True)
    with app.app_context():
        actor = db.session.query(StaffUser).one()
        update = services.draft_update(actor, queries.find(ref), state="identified",
                                       body={"zh_Hans": "<script>x</script>", "en": "**Found**"})
        services.publish_update(actor, update)
        db.session.commit()
    body = client.get(f"/api/v1/incidents/{ref.lower()}").get_json()
    assert body["state"] == "identified"
    newest = body["updates"][0]
    assert newest["body"]["en"] == "**Found**"
    assert newest["body_html"]["en"] == "<p><strong>Found</strong></p>"
    assert "<script>" not in newest["body_html"]["zh_Hans"]
    assert [u["state"] for u in body["updates"]] == ["identified", "investigating"]


def test_filters_and_pagination(app, client):
    refs = [declare(app, publish=True, title=(f"事件{i}", f"Incident {i}")) for i in range(3)]
    other = declare(app, publish=True, regions=(("湖北省武汉市", "Wuhan"),))
    page = client.get("/api/v1/incidents?limit=2").get_json()
    assert [i["reference"] for i in page["incidents"]] == [other, refs[2]]
    rest = client.get(f"/api/v1/incidents?limit=2&before={page['next_before']}").get_json()
    assert [i["reference"] for i in rest["incidents"]] == [refs[1], refs[0]]
    wuhan = client.get("/api/v1/incidents?area=湖北省武汉市").get_json()
    assert [i["reference"] for i in wuhan["incidents"]] == [other]
    assert client.get("/api/v1/incidents?state=resolved").get_json()["incidents"] == []
    assert len(client.get("/api/v1/incidents?state=active").get_json()["incidents"]) == 4


@pytest.mark.parametrize("query", ["state=bogus", "limit=0", "limit=101", "limit=x",
                                   "before=abc"])
def test_bad_parameters_are_a_json_400(client, query):
    response = client.get(f"/api/v1/incidents?{query}")
    assert response.status_code == 400
    assert response.get_json()["error"]["status"] == 400


def test_unknown_incident_is_a_json_404(client):
    response = client.get("/api/v1/incidents/IN-2222-3333")
    assert response.status_code == 404 and response.get_json()["error"]["status"] == 404


def test_api_answers_304(app, client):
    declare(app, publish=True)
    etag = client.get("/api/v1/incidents").headers["ETag"]
    assert client.get("/api/v1/incidents",
                      headers={"If-None-Match": etag}).status_code == 304


def _resolve_ref(document: dict, ref: str) -> dict:
    assert ref.startswith("#/")
    node = document
    for part in ref[2:].split("/"):
        node = node[part]
    return node


def _walk(node, document, seen=None):
    """Check every $ref in the document resolves."""
    if isinstance(node, dict):
        if "$ref" in node:
            _resolve_ref(document, node["$ref"])
        for value in node.values():
            _walk(value, document)
    elif isinstance(node, list):
        for value in node:
            _walk(value, document)


def test_openapi_document_structure(client):
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200 and "Set-Cookie" not in response.headers
    document = response.get_json()
    assert document["openapi"].startswith("3.1")
    assert document["info"]["title"] and document["info"]["version"]
    assert document["servers"] == [{"url": "http://portal.test/api/v1"}]
    assert set(document["paths"]) == {"/incidents", "/incidents/{reference}"}
    for path, item in document["paths"].items():
        for method, operation in item.items():
            assert method == "get"
            assert operation["operationId"] and "200" in operation["responses"]
            for parameter in operation.get("parameters", []):
                assert parameter["in"] in ("query", "path")
                if parameter["in"] == "path":
                    assert parameter["required"] is True and f"{{{parameter['name']}}}" in path
    _walk(document, document)


def test_openapi_document_validates(client):
    validator = pytest.importorskip("openapi_spec_validator")
    validator.validate(client.get("/api/v1/openapi.json").get_json())


def test_responses_match_the_described_required_fields(app, client):
    ref = declare(app, publish=True)
    document = client.get("/api/v1/openapi.json").get_json()
    schemas = document["components"]["schemas"]
    listing = client.get("/api/v1/incidents").get_json()
    assert set(schemas["IncidentList"]["required"]) <= set(listing)
    for incident in listing["incidents"]:
        assert set(schemas["Incident"]["required"]) <= set(incident)
        assert set(incident) <= set(schemas["Incident"]["properties"])
    detail = client.get(f"/api/v1/incidents/{ref}").get_json()
    for update in detail["updates"]:
        assert set(schemas["Update"]["required"]) <= set(update)
        assert set(update) <= set(schemas["Update"]["properties"])
