"""The Defender for Endpoint API's custom indicators: submit or update by type and value, validation, listing with
$filter and paging, import (per-item results), delete and BatchDelete, permissions per route, the admin routes and
the rate-limit rule."""
from __future__ import annotations

import pytest

from sandboxtest import CONTOSO, FABRIKAM, bearer, counters

ENDPOINT = "https://api.securitycenter.microsoft.com/.default"
SHA256 = "a" * 64
BASE = {"indicatorType": "FileSha256", "indicatorValue": SHA256, "action": "Block", "title": "t", "description": "d"}


@pytest.fixture(autouse=True)
def clean_state(sandbox, http):
    for tenant in (CONTOSO, FABRIKAM):
        assert http.post(f"{sandbox['admin_url']}/tenants/{tenant}/indicators/reset").status_code == 200
    http.post(f"{sandbox['admin_url']}/limits/reset")
    yield


@pytest.fixture(scope="module")
def responder(tokens):
    return tokens("soc-responder", ENDPOINT)


def api(sandbox, http, token, path="indicators", method="GET", **kwargs):
    return http.request(method, f"{sandbox['base_url']}/api/{path}", headers=bearer(token), **kwargs)


def stored(sandbox, http, tenant=CONTOSO):
    return http.get(f"{sandbox['admin_url']}/tenants/{tenant}/indicators").json()["value"]


def test_submit_creates_then_updates_by_type_and_value(sandbox, http, responder):
    created = api(sandbox, http, responder, method="POST", json={**BASE, "application": "app", "severity": "High"})
    assert created.status_code == 200
    body = created.json()
    assert (body["indicatorValue"], body["action"], body["severity"], body["application"]) == (
        SHA256, "Block", "High", "app")
    assert body["createdBy"] and body["creationTimeDateTimeUtc"] and body["lastUpdateTime"]
    updated = api(sandbox, http, responder, method="POST",
                  json={**BASE, "indicatorValue": SHA256.upper(), "action": "Audit", "application": "other"}).json()
    assert updated["id"] == body["id"]
    assert (updated["action"], updated["application"]) == ("Audit", "app")  # application only counts on creation
    assert [item["id"] for item in stored(sandbox, http)] == [body["id"]]


@pytest.mark.parametrize("change, field", [
    ({"title": None}, "title"),
    ({"description": " "}, "description"),
    ({"indicatorType": "Sha256"}, "indicatorType"),
    ({"action": "Quarantine"}, "action"),
    ({"action": "BlockAndRemediate", "indicatorType": "Url", "indicatorValue": "https://x.example/a"}, "action"),
    ({"indicatorValue": "abc"}, "indicatorValue"),
    ({"indicatorType": "IpAddress", "indicatorValue": "10.0.0.0/8"}, "indicatorValue"),
    ({"indicatorType": "DomainName", "indicatorValue": "not a domain"}, "indicatorValue"),
    ({"severity": "Critical"}, "severity"),
    ({"expirationTime": "tomorrow"}, "expirationTime"),
    ({"generateAlert": "yes"}, "generateAlert"),
    ({"Title": "x"}, "Title"),
])
def test_submit_refuses_an_invalid_field_naming_it(sandbox, http, responder, change, field):
    answer = api(sandbox, http, responder, method="POST", json={**BASE, **change})
    assert answer.status_code == 400
    assert f"'{field}'" in answer.json()["error"]["message"] or field in answer.json()["error"]["message"]
    assert stored(sandbox, http) == []


def test_list_filters_and_pages(sandbox, http, responder):
    for index in range(5):
        api(sandbox, http, responder, method="POST",
            json={**BASE, "indicatorValue": f"{index:064x}", "action": "Block" if index % 2 else "Allowed"})
    api(sandbox, http, responder, method="POST", json={**BASE, "indicatorType": "DomainName",
                                                       "indicatorValue": "Evil.Example", "action": "Warn"})
    domain = api(sandbox, http, responder, params={"$filter": "indicatorValue eq 'evil.example'"}).json()["value"]
    assert [item["indicatorType"] for item in domain] == ["DomainName"]
    blocked = api(sandbox, http, responder, params={
        "$filter": "indicatorType eq 'FileSha256' and action eq 'Block'"}).json()["value"]
    assert sorted(item["indicatorValue"] for item in blocked) == [f"{1:064x}", f"{3:064x}"]
    assert len(api(sandbox, http, responder, params={"$filter": "createdBySource eq 'PublicApi'"}).json()["value"]) == 6
    page = api(sandbox, http, responder, params={"$top": 4}).json()
    assert len(page["value"]) == 4 and "$skip=4" in page["@odata.nextLink"]
    rest = http.get(page["@odata.nextLink"], headers=bearer(responder)).json()
    assert len(rest["value"]) == 2 and "@odata.nextLink" not in rest
    assert api(sandbox, http, responder, params={"$filter": "description eq 'd'"}).status_code == 400


def test_list_filters_on_application_inside_alternatives(sandbox, http, responder):
    """The purge listing's shape: ((type and value) or application eq ...)."""
    api(sandbox, http, responder, method="POST", json={**BASE, "application": "feed"})
    api(sandbox, http, responder, method="POST", json={**BASE, "indicatorType": "DomainName",
                                                       "indicatorValue": "a.example"})
    api(sandbox, http, responder, method="POST", json={**BASE, "indicatorType": "DomainName",
                                                       "indicatorValue": "b.example", "application": "other"})
    text = "((indicatorType eq 'DomainName' and indicatorValue eq 'a.example') or application eq 'feed')"
    found = api(sandbox, http, responder, params={"$filter": text}).json()["value"]
    assert sorted(item["indicatorValue"] for item in found) == ["a.example", BASE["indicatorValue"]]


def test_import_answers_per_item_and_a_bad_item_fails_alone(sandbox, http, responder):
    items = [{**BASE, "indicatorValue": f"{index:064x}"} for index in range(3)]
    items.insert(1, {**BASE, "indicatorValue": "nothex"})
    answer = api(sandbox, http, responder, "indicators/import", "POST", json={"Indicators": items})
    assert answer.status_code == 200
    results = answer.json()["value"]
    assert [result["isFailed"] for result in results] == [False, True, False, False]
    assert "indicatorValue" in results[1]["failureReason"] and results[1]["id"] is None
    assert len(stored(sandbox, http)) == 3
    too_many = [{**BASE, "indicatorValue": f"{index:064x}"} for index in range(501)]
    refused = api(sandbox, http, responder, "indicators/import", "POST", json={"Indicators": too_many})
    assert refused.status_code == 400 and "500" in refused.json()["error"]["message"]
    assert len(stored(sandbox, http)) == 3


def test_delete_and_batch_delete(sandbox, http, responder):
    ids = [api(sandbox, http, responder, method="POST", json={**BASE, "indicatorValue": f"{index:064x}"}).json()["id"]
           for index in range(4)]
    assert api(sandbox, http, responder, f"indicators/{ids[0]}", "DELETE").status_code == 204
    assert api(sandbox, http, responder, f"indicators/{ids[0]}", "DELETE").status_code == 404
    batch = api(sandbox, http, responder, "indicators/BatchDelete", "POST", json={"IndicatorIds": ids[1:3]})
    assert batch.status_code == 204
    assert [item["id"] for item in stored(sandbox, http)] == [ids[3]]
    assert api(sandbox, http, responder, "indicators/BatchDelete", "POST",
               json={"IndicatorIds": ["1"] * 501}).status_code == 400


def test_permissions_per_route(sandbox, http, tokens, responder):
    reader = tokens("soc-reader", ENDPOINT)
    api(sandbox, http, responder, method="POST", json=BASE)
    assert len(api(sandbox, http, reader).json()["value"]) == 1
    refused = api(sandbox, http, reader, method="POST", json=BASE)
    assert refused.status_code == 403 and "Ti.ReadWrite.All" in refused.json()["error"]["message"]
    for path, method, body in (("indicators/import", "POST", {"Indicators": [BASE]}),
                               ("indicators/BatchDelete", "POST", {"IndicatorIds": ["1"]}),
                               ("indicators/1", "DELETE", None)):
        assert api(sandbox, http, reader, path, method, json=body).status_code == 403
    bare = tokens("soc-bare", ENDPOINT, FABRIKAM)
    assert api(sandbox, http, bare).status_code == 403
    graph = tokens("soc-responder")
    assert api(sandbox, http, graph).status_code == 401


def test_tenants_are_separate(sandbox, http, tokens, responder):
    api(sandbox, http, responder, method="POST", json=BASE)
    fabrikam = tokens("soc-responder", ENDPOINT, FABRIKAM)
    assert api(sandbox, http, fabrikam).json()["value"] == []
    assert stored(sandbox, http, FABRIKAM) == []
    assert http.get(f"{sandbox['admin_url']}/tenants/nowhere.example/indicators").status_code == 404


def test_indicator_routes_count_and_share_the_endpoint_rate_rule(sandbox, http, responder):
    rules = {rule["name"]: rule for rule in http.get(f"{sandbox['admin_url']}/limits").json()["rules"]}
    for route in ("GET /api/indicators", "POST /api/indicators", "POST /api/indicators/import",
                  "POST /api/indicators/BatchDelete", "DELETE /api/indicators/{id}"):
        assert route in rules["endpoint"]["routes"]
    counters(sandbox, http, reset=True)
    api(sandbox, http, responder, "indicators/import", "POST", json={"Indicators": [BASE]})
    seen = counters(sandbox, http)
    assert seen["routes"]["POST /api/indicators/import"] == 1 and seen["writes"] == 1
