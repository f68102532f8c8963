"""Advanced hunting through both APIs: the KQL subset, both response shapes, errors and permissions."""
from __future__ import annotations

import datetime
import json

import pytest

from sandboxtest import DEFENDER, FABRIKAM, GRAPH, bearer, canonical, moment

GRAPH_HUNTING = "/v1.0/security/runHuntingQuery"
SDK_HUNTING = "/v1.0/security/microsoft.graph.security.runHuntingQuery"  # the namespace-qualified action
DEFENDER_HUNTING = "/api/advancedhunting/run"


@pytest.fixture(scope="module", autouse=True)
def no_rate_limits(sandbox, http):
    """These tests make more than the 45 hunting calls a minute the APIs allow (test_limits.py tests that)."""
    http.put(f"{sandbox['admin_url']}/limits", json={"enabled": False}).raise_for_status()


@pytest.fixture(scope="module")
def hunt(sandbox, http, tokens):
    """hunt(query, api="graph", app="soc-responder", tenant=CONTOSO, **body) -> the response."""
    def run(query, api="graph", app="soc-responder", tenant="contoso.example", **body):
        path, scope = (GRAPH_HUNTING, GRAPH) if api == "graph" else (DEFENDER_HUNTING, DEFENDER)
        return http.post(f"{sandbox['base_url']}{path}", json={"Query": query, **body},
                         headers=bearer(tokens(app, scope, tenant)))
    return run


@pytest.fixture(scope="module")
def tables(hunt):
    """Every row of every table, through Graph."""
    names = ("AlertInfo", "AlertEvidence", "DeviceProcessEvents", "IdentityLogonEvents")
    return {name: hunt(name).json()["results"] for name in names}


def _ago(**delta):
    return datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(**delta)


def _iso(when):
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def test_graph_shape(hunt):
    response = hunt("AlertInfo | project Timestamp, AlertId, Title | take 3")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["@odata.context"].endswith("/v1.0/$metadata#microsoft.graph.security.huntingQueryResults")
    assert body["schema"] == [{"name": "Timestamp", "type": "DateTime"}, {"name": "AlertId", "type": "String"},
                              {"name": "Title", "type": "String"}]
    assert len(body["results"]) == 3 and list(body["results"][0]) == ["Timestamp", "AlertId", "Title"]
    assert set(body) == {"@odata.context", "schema", "results"}


def test_defender_shape(hunt):
    response = hunt("AlertInfo | summarize count() by Severity", api="defender")
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"Stats", "Schema", "Results"}
    assert body["Schema"] == [{"Name": "Severity", "Type": "String"}, {"Name": "count_", "Type": "Int64"}]
    assert set(body["Stats"]) == {"ExecutionTime", "resource_usage", "dataset_statistics"}
    assert body["Stats"]["dataset_statistics"][0]["table_row_count"] == len(body["Results"]) > 1
    assert body["Results"] == hunt("AlertInfo | summarize count() by Severity").json()["results"]


def test_tables_come_from_the_store(sandbox, http, tables):
    cutoff = _ago(days=30)
    alerts = [alert for incident in canonical(sandbox, http) for alert in incident["alerts"]
              if moment(alert["createdDateTime"]) >= cutoff]
    assert sorted(row["AlertId"] for row in tables["AlertInfo"]) == sorted(alert["id"] for alert in alerts)
    assert {row["AlertId"] for row in tables["AlertEvidence"]} <= {alert["id"] for alert in alerts}
    assert all(100 <= len(rows) <= 2000 for rows in tables.values())
    assert all(moment(row["Timestamp"]) >= cutoff for rows in tables.values() for row in rows)
    assert json.loads(tables["AlertInfo"][0]["AttackTechniques"])


def test_tables_are_per_tenant_and_deterministic(hunt, tables):
    assert hunt("DeviceProcessEvents").json()["results"] == tables["DeviceProcessEvents"]
    fabrikam = hunt("AlertInfo | count", tenant=FABRIKAM).json()["results"]
    assert 0 < fabrikam[0]["Count"] < len(tables["AlertInfo"])


def _where(table, predicate):
    return lambda tables: [row for row in tables[table] if predicate(row)]


WHERE_CASES = [
    ("AlertInfo | where Severity == 'High'", _where("AlertInfo", lambda r: r["Severity"] == "High")),
    ("AlertInfo | where Severity != 'High'", _where("AlertInfo", lambda r: r["Severity"] != "High")),
    ("AlertInfo | where Severity =~ 'high'", _where("AlertInfo", lambda r: r["Severity"] == "High")),
    ("AlertInfo | where Severity !~ 'HIGH'", _where("AlertInfo", lambda r: r["Severity"] != "High")),
    ('AlertInfo | where Title contains "LSASS"', _where("AlertInfo", lambda r: "lsass" in r["Title"].lower())),
    ('AlertInfo | where Title !contains "lsass"', _where("AlertInfo", lambda r: "lsass" not in r["Title"].lower())),
    ("DeviceProcessEvents | where ProcessCommandLine has 'shadows'",
     _where("DeviceProcessEvents", lambda r: " shadows " in f" {r['ProcessCommandLine']} ")),
    ("DeviceProcessEvents | where FolderPath startswith 'c:\\\\windows'",
     _where("DeviceProcessEvents", lambda r: r["FolderPath"].lower().startswith("c:\\windows"))),
    ("AlertInfo | where Category in ('Impact', 'Malware')",
     _where("AlertInfo", lambda r: r["Category"] in ("Impact", "Malware"))),
    ("AlertInfo | where Category !in ('Impact', 'Malware')",
     _where("AlertInfo", lambda r: r["Category"] not in ("Impact", "Malware"))),
    ("IdentityLogonEvents | where Timestamp > ago(7d)", _where("IdentityLogonEvents", lambda r: moment(r["Timestamp"]) > _ago(days=7))),
    ("IdentityLogonEvents | where Timestamp < ago(12h) and ActionType == 'LogonFailed'",
     _where("IdentityLogonEvents", lambda r: moment(r["Timestamp"]) < _ago(hours=12) and r["ActionType"] == "LogonFailed")),
    ("IdentityLogonEvents | where Timestamp >= now() - 90m or Protocol == 'LDAP'",
     _where("IdentityLogonEvents", lambda r: moment(r["Timestamp"]) >= _ago(minutes=90) or r["Protocol"] == "LDAP")),
    ("AlertEvidence | where not(EntityType == 'User') and isnotempty(DeviceName)",
     _where("AlertEvidence", lambda r: r["EntityType"] != "User" and r["DeviceName"])),
]


@pytest.mark.parametrize("query, expected", WHERE_CASES, ids=[case[0] for case in WHERE_CASES])
def test_where(hunt, tables, query, expected):
    response = hunt(query)
    assert response.status_code == 200, response.text
    wanted = expected(tables)
    assert 0 < len(wanted) < len(tables[query.split(" ")[0]])
    assert response.json()["results"] == wanted


def test_datetime_literals(hunt, tables):
    rows = tables["AlertInfo"]
    middle = sorted(row["Timestamp"] for row in rows)[len(rows) // 2][:10]
    response = hunt(f"AlertInfo | where Timestamp <= datetime({middle}) | count")
    midnight = moment(f"{middle}T00:00:00Z")
    assert response.json()["results"] == [{"Count": sum(moment(row["Timestamp"]) <= midnight for row in rows)}]


def test_project_take_and_limit(hunt, tables):
    body = hunt("AlertEvidence | project AlertId, Kind = EntityType | take 5").json()
    assert [column["name"] for column in body["schema"]] == ["AlertId", "Kind"]
    assert body["results"] == [{"AlertId": r["AlertId"], "Kind": r["EntityType"]} for r in tables["AlertEvidence"][:5]]
    assert len(hunt("AlertEvidence | limit 7").json()["results"]) == 7


def test_summarize(hunt, tables):
    body = hunt("IdentityLogonEvents | summarize count() by ActionType, Application").json()
    assert [column["name"] for column in body["schema"]] == ["ActionType", "Application", "count_"]
    expected = {}
    for row in tables["IdentityLogonEvents"]:
        key = (row["ActionType"], row["Application"])
        expected[key] = expected.get(key, 0) + 1
    assert {(r["ActionType"], r["Application"]): r["count_"] for r in body["results"]} == expected
    distinct = hunt("AlertEvidence | summarize Devices = dcount(DeviceId) by EntityType").json()["results"]
    machines = {row["DeviceId"] for row in tables["AlertEvidence"] if row["EntityType"] == "Machine"}
    assert {"EntityType": "Machine", "Devices": len(machines)} in distinct


def test_order_sort_top_extend_distinct_count(hunt, tables):
    rows = tables["DeviceProcessEvents"]
    ordered = hunt("DeviceProcessEvents | order by Timestamp asc | project Timestamp").json()["results"]
    assert [row["Timestamp"] for row in ordered] == [row["Timestamp"] for row in sorted(
        rows, key=lambda row: moment(row["Timestamp"]))]
    newest = hunt("DeviceProcessEvents | sort by Timestamp | take 1").json()["results"][0]["Timestamp"]
    assert moment(newest) == max(moment(row["Timestamp"]) for row in rows)
    top = hunt("AlertInfo | summarize count() by Category | top 2 by count_ desc").json()["results"]
    assert len(top) == 2 and top[0]["count_"] >= top[1]["count_"]
    extended = hunt("DeviceProcessEvents | extend Name = tolower(FileName) | take 1").json()
    assert extended["schema"][-1] == {"name": "Name", "type": "String"}
    assert extended["results"][0]["Name"] == rows[0]["FileName"].lower()
    assert {row["FileName"] for row in hunt("DeviceProcessEvents | distinct FileName").json()["results"]} == {
        row["FileName"] for row in rows}
    assert hunt("DeviceProcessEvents | count").json()["results"] == [{"Count": len(rows)}]


def _count_since(rows, since, until=None):
    return sum(since <= moment(row["Timestamp"]) and (until is None or moment(row["Timestamp"]) < until)
               for row in rows)


@pytest.mark.parametrize("timespan, hours", [("P1D", 24), ("PT12H", 12), ("P1W", 168), ("P0.5D", 12),
                                             ("P1DT12H", 36)])
def test_graph_timespan(hunt, tables, timespan, hours):
    results = hunt("IdentityLogonEvents | project Timestamp", Timespan=timespan).json()["results"]
    assert len(results) == _count_since(tables["IdentityLogonEvents"], _ago(hours=hours)) > 0


def test_graph_timespan_interval(hunt, tables):
    start, end = _ago(days=10).replace(microsecond=0), _ago(days=3).replace(microsecond=0)
    results = hunt("AlertInfo | project Timestamp", Timespan=f"{_iso(start)}/{_iso(end)}").json()["results"]
    assert len(results) == _count_since(tables["AlertInfo"], start, end) > 0
    assert hunt("AlertInfo", Timespan="seven days").status_code == 400


@pytest.mark.parametrize("timespan", ["P1M", "P1Y", "p1m", "P0Y1M", "P1Y2M3W4DT5H6M7.5S"])
def test_graph_timespan_of_months_and_years_reaches_the_whole_retention(hunt, tables, timespan):
    """The data spans 30 days, so a month or more back from now finds every row (P1M used to be a 400)."""
    response = hunt("AlertInfo | count", Timespan=timespan)
    assert response.status_code == 200, response.text
    assert response.json()["results"] == [{"Count": len(tables["AlertInfo"])}]


def test_graph_timespan_of_one_date_time_runs_until_now(hunt, tables):
    start = _ago(days=5).replace(microsecond=0)
    response = hunt("AlertInfo | project Timestamp", Timespan=_iso(start))
    assert response.status_code == 200, response.text
    assert len(response.json()["results"]) == _count_since(tables["AlertInfo"], start) > 0


@pytest.mark.parametrize("shape", ["start/duration", "duration/end"])
def test_graph_timespan_interval_with_a_duration(hunt, tables, shape):
    start, end = _ago(days=9).replace(microsecond=0), _ago(days=2).replace(microsecond=0)
    timespan = f"{_iso(start)}/P7D" if shape == "start/duration" else f"P7D/{_iso(end)}"
    results = hunt("AlertInfo | project Timestamp", Timespan=timespan).json()["results"]
    assert len(results) == _count_since(tables["AlertInfo"], start, end) > 0


@pytest.mark.parametrize("timespan", ["garbage", "P", "PT", "P1DT", "1D", "P-1D", "P1D/P2D", "a/b/c", "2024-13-01",
                                      "2024-05-02T00:00:00Z/2024-05-01T00:00:00Z", "PT99999999999H", "P9000Y",
                                      "P1.5M"])
def test_graph_timespan_garbage_is_400(hunt, timespan):
    response = hunt("AlertInfo | count", Timespan=timespan)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["code"] == "BadRequest" and error["message"].startswith("Invalid Timespan: ") and "innerError" in error


def test_graph_hunting_by_the_namespace_qualified_action(sandbox, http, tokens, tables):
    """Microsoft's SDKs post to /security/microsoft.graph.security.runHuntingQuery: same answer, same limits."""
    response = http.post(f"{sandbox['base_url']}{SDK_HUNTING}", json={"query": "AlertInfo | count", "timespan": "P1M"},
                         headers=bearer(tokens("soc-responder")))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["@odata.context"].endswith("/v1.0/$metadata#microsoft.graph.security.huntingQueryResults")
    assert body["results"] == [{"Count": len(tables["AlertInfo"])}]
    limits = http.get(f"{sandbox['admin_url']}/limits").json()["rules"]
    graph_rule = next(rule for rule in limits if rule["name"] == "graph-hunting")
    assert {f"POST {GRAPH_HUNTING}", f"POST {SDK_HUNTING}"} <= set(graph_rule["routes"])


@pytest.mark.parametrize("query, graph_message", [
    ("AlertInfo | wher Severity == 'High'", "Query could not be parsed at 'wher' on line [1,13]"),
    ("AlertInfo\n| where Severity === 'High'", "Query could not be parsed at '=' on line [2,20]"),
    ("AlertInfo | join (AlertEvidence) on AlertId", "Query could not be parsed at 'join' on line [1,13]"),
    ("AlertInfo | take ten", "Query could not be parsed at 'ten' on line [1,18]"),
])
def test_parse_errors_in_each_api_shape(hunt, query, graph_message):
    graph = hunt(query)
    assert graph.status_code == 400
    assert graph.json()["error"]["code"] == "BadRequest" and graph.json()["error"]["message"].startswith(graph_message)
    defender = hunt(query, api="defender")
    assert defender.status_code == 400
    error = defender.json()["error"]
    assert error["code"] == "BadRequest" and error["message"].startswith(f"Syntax error: {graph_message}")
    assert error["target"]


@pytest.mark.parametrize("query, message", [
    ("DeviceEvents | take 1", "Failed to resolve table expression named 'DeviceEvents'"),
    ("AlertInfo | where Colour == 'red'", "Failed to resolve scalar expression named 'Colour'"),
    ("AlertInfo | where Timestamp > 5", "Cannot compare values of types datetime and long"),
    ("AlertInfo | where Title", "the predicate must be of type bool"),
    ("AlertInfo | where parse_json(AttackTechniques)", "Unknown function: 'parse_json'."),
])
def test_semantic_errors(hunt, query, message):
    graph = hunt(query)
    assert graph.status_code == 400 and message in graph.json()["error"]["message"]
    defender = hunt(query, api="defender")
    assert defender.status_code == 400
    assert defender.json()["error"]["message"] == f"Semantic error: {graph.json()['error']['message']}"


def test_body_errors(sandbox, http, tokens, hunt):
    assert hunt("").status_code == 400
    assert hunt("AlertInfo", Other=1).status_code == 400
    lower = http.post(f"{sandbox['base_url']}{GRAPH_HUNTING}", json={"query": "AlertInfo | count", "timespan": "P1D"},
                      headers=bearer(tokens("soc-responder")))
    assert lower.status_code == 200
    defender = hunt("AlertInfo", api="defender", Timespan="P1D")
    assert (defender.status_code, defender.json()["error"]["code"]) == (400, "InvalidRequestBody")
    missing = http.post(f"{sandbox['base_url']}{DEFENDER_HUNTING}", json={},
                        headers=bearer(tokens("soc-responder", DEFENDER)))
    assert (missing.status_code, missing.json()["error"]["code"]) == (400, "MissingRequiredParameter")


def test_hunting_needs_its_permission(hunt):
    graph = hunt("AlertInfo | take 1", app="soc-reader")
    assert graph.status_code == 403
    assert graph.json()["error"]["message"] == ("Missing application roles. API required roles: ThreatHunting.Read.All, "
                                                "application roles: SecurityIncident.Read.All,"
                                                "SecurityAlert.Read.All.")
    defender = hunt("AlertInfo | take 1", api="defender", app="soc-reader")
    assert defender.status_code == 403
    assert "(AdvancedHunting.Read.All)" in defender.json()["error"]["message"]
