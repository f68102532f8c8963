"""What the sandbox answers matches Microsoft's published v1.0 metadata, its SDK's models and its documentation:
enum members, properties and their types, time stamp spellings, portal links and list order."""
from __future__ import annotations

import datetime
import re

import pytest

from sandboxtest import DEFENDER, TIMESTAMP, add_fault, bearer, canonical, moment

# Graph v1.0 metadata: microsoft.graph.security.alertDetermination and investigationState
DETERMINATIONS = ("unknown", "apt", "malware", "securityPersonnel", "securityTesting", "unwantedSoftware", "other",
                  "multiStagedAttack", "compromisedAccount", "phishing", "maliciousUserActivity", "notMalicious",
                  "notEnoughDataToValidate", "confirmedActivity", "lineOfBusinessApplication", "unknownFutureValue")
INCIDENT_PAGE_SPELLINGS = ("compromisedUser", "clean", "insufficientData", "confirmedUserActivity")
INVESTIGATION_STATES = ("unknown", "terminated", "successfullyRemediated", "benign", "failed", "partiallyRemediated",
                        "running", "pendingApproval", "pendingResource", "queued", "innerFailure", "preexistingAlert",
                        "unsupportedOs", "unsupportedAlertType", "suppressedAlert", "partiallyInvestigated",
                        "terminatedByUser", "terminatedBySystem", "unknownFutureValue")
PRODUCT_NAMES = ("Microsoft Defender for Endpoint", "Microsoft Defender for Office 365",
                 "Microsoft Defender for Identity", "Microsoft Defender for Cloud Apps", "Microsoft Entra ID Protection",
                 "Microsoft Defender XDR")
INCIDENT_URL = re.compile(r"^https://security\.microsoft\.com/incident2/(\d+)/overview\?tid=([0-9a-f-]{36})$")


def incidents_url(sandbox, suffix=""):
    return f"{sandbox['base_url']}/v1.0/security/incidents{suffix}"


@pytest.fixture(scope="module")
def store(sandbox, http):
    """Contoso's incidents with alerts, Graph shape, as the sandbox started (read before any test writes)."""
    return canonical(sandbox, http)


@pytest.fixture(scope="module")
def listed(sandbox, http, tokens):
    """Every Contoso incident with its alerts, read through Graph's paged listing."""
    url, items = incidents_url(sandbox, "?$expand=alerts"), []
    while url:
        body = http.get(url, headers=bearer(tokens("soc-reader"))).json()
        items.extend(body["value"])
        url = body.get("@odata.nextLink")
    return items


def _alerts(incidents):
    return [alert for incident in incidents for alert in incident["alerts"]]


# --- determinations -------------------------------------------------------------------------------------------------

def test_incidents_and_alerts_carry_only_the_metadata_determinations(listed):
    incident_values = {incident["determination"] for incident in listed}
    alert_values = {alert["determination"] for alert in _alerts(listed)}
    assert incident_values | alert_values <= set(DETERMINATIONS)
    # the four members the incident page spells differently are generated, on incidents and on alerts
    renamed = {"compromisedAccount", "notMalicious", "notEnoughDataToValidate", "confirmedActivity"}
    assert renamed <= incident_values and renamed <= alert_values


def test_a_patch_with_not_malicious_comes_back_as_not_malicious(sandbox, http, tokens, store):
    incident_id = store[20]["id"]
    body = {"classification": "falsePositive", "determination": "notMalicious"}
    response = http.patch(incidents_url(sandbox, f"/{incident_id}"), json=body, headers=bearer(tokens("soc-responder")))
    assert response.status_code == 200, response.text
    assert response.json()["determination"] == "notMalicious"
    again = http.get(incidents_url(sandbox, f"/{incident_id}"), headers=bearer(tokens("soc-responder"))).json()
    assert again["determination"] == "notMalicious"
    twin = http.get(f"{sandbox['base_url']}/api/incidents/{incident_id}",
                    headers=bearer(tokens("soc-responder", DEFENDER))).json()
    assert twin["determination"] == "Clean"


@pytest.mark.parametrize("spelling", INCIDENT_PAGE_SPELLINGS)
def test_graph_refuses_the_incident_page_spellings(sandbox, http, tokens, store, spelling):
    """They are not members of alertDetermination: Graph's deserializer refuses the body with a 400."""
    incident_id = store[21]["id"]
    classification = "falsePositive" if spelling in ("clean", "insufficientData") else "truePositive"
    response = http.patch(incidents_url(sandbox, f"/{incident_id}"), headers=bearer(tokens("soc-responder")),
                          json={"classification": classification, "determination": spelling})
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["code"] == "BadRequest" and set(error["innerError"]) == {"date", "request-id", "client-request-id"}
    assert error["message"].startswith(f"Cannot convert the literal '{spelling}' to the expected type "
                                       "'microsoft.graph.security.alertDetermination'")
    unchanged = http.get(incidents_url(sandbox, f"/{incident_id}"), headers=bearer(tokens("soc-responder"))).json()
    assert (unchanged["classification"], unchanged["determination"]) == (store[21]["classification"],
                                                                         store[21]["determination"])


@pytest.mark.parametrize("classification, status", [("truePositive", 200), ("informationalExpectedActivity", 400),
                                                    ("falsePositive", 400)])
def test_security_personnel_is_a_true_positive(sandbox, http, tokens, store, classification, status):
    response = http.patch(incidents_url(sandbox, f"/{store[22]['id']}"), headers=bearer(tokens("soc-responder")),
                          json={"classification": classification, "determination": "securityPersonnel"})
    assert response.status_code == status, response.text


@pytest.mark.parametrize("member", [member for member in DETERMINATIONS if member != "unknownFutureValue"])
def test_graph_filters_on_every_determination_member(sandbox, http, tokens, member):
    response = http.get(incidents_url(sandbox), headers=bearer(tokens("soc-reader")),
                        params={"$filter": f"determination eq '{member}'", "$count": "true"})
    assert response.status_code == 200, response.text
    now = canonical(sandbox, http)
    assert response.json()["@odata.count"] == sum(incident["determination"] == member for incident in now)


def test_graph_filter_with_several_members_matches_the_store(sandbox, http, tokens):
    members = ("notMalicious", "notEnoughDataToValidate", "compromisedAccount", "confirmedActivity")
    response = http.get(incidents_url(sandbox), headers=bearer(tokens("soc-reader")), params={
        "$filter": f"determination in ({', '.join(repr(member) for member in members)})", "$count": "true"})
    assert response.status_code == 200, response.text
    now = canonical(sandbox, http)
    assert response.json()["@odata.count"] == sum(incident["determination"] in members for incident in now) > 0


@pytest.mark.parametrize("spelling", INCIDENT_PAGE_SPELLINGS + ("NotMalicious", "bogus"))
def test_graph_filter_on_a_non_member_is_400(sandbox, http, tokens, spelling):
    response = http.get(incidents_url(sandbox), headers=bearer(tokens("soc-reader")),
                        params={"$filter": f"determination eq '{spelling}'"})
    assert response.status_code == 400
    assert f"The string '{spelling}' is not a valid enumeration type constant" in response.json()["error"]["message"]


# --- properties of the metadata ---------------------------------------------------------------------------------------

def test_incidents_have_every_property_of_the_metadata_with_its_type(listed):
    for incident in listed:
        assert incident["lastModifiedBy"] is None or isinstance(incident["lastModifiedBy"], str)
        score = incident["priorityScore"]
        assert score is None or (isinstance(score, int) and not isinstance(score, bool) and 0 <= score <= 100)
        assert incident["resolvingComment"] is None or isinstance(incident["resolvingComment"], str)
        assert incident["summary"] is None or isinstance(incident["summary"], str)
    for name in ("lastModifiedBy", "priorityScore", "resolvingComment", "summary"):
        values = [incident[name] for incident in listed]
        assert any(value is None for value in values) and any(value is not None for value in values), name
    assert all(incident["resolvingComment"] for incident in listed if incident["status"] == "resolved")


def test_priority_follows_severity(listed):
    def scores(severity):
        return [i["priorityScore"] for i in listed if i["severity"] == severity and i["priorityScore"] is not None]
    assert min(scores("high")) > max(scores("informational"))


def test_alerts_have_every_property_of_the_metadata_with_its_type(listed):
    alerts = _alerts(listed)
    for alert in alerts:
        assert alert["productName"] in PRODUCT_NAMES
        assert alert["categories"] == [alert["category"]]
        assert alert["investigationState"] in INVESTIGATION_STATES
        assert isinstance(alert["systemTags"], list) and all(isinstance(tag, str) for tag in alert["systemTags"])
        assert alert["alertPolicyId"] is None or re.fullmatch(r"[0-9a-f-]{36}", alert["alertPolicyId"])
        assert isinstance(alert["additionalData"], dict)
    assert {"running", "successfullyRemediated", "unsupportedAlertType"} <= {a["investigationState"] for a in alerts}
    assert any(alert["alertPolicyId"] for alert in alerts) and any(alert["additionalData"] for alert in alerts)
    assert any(alert["systemTags"] for alert in alerts)


def test_alerts_carry_custom_details_of_custom_detections_only(listed):
    """customDetails (microsoft.graph.security.dictionary) is on every alert: the rule's columns for custom
    detections, null for the others."""
    alerts = _alerts(listed)
    for alert in alerts:
        details = alert["customDetails"]
        if alert["detectionSource"] == "customDetection":
            assert isinstance(details, dict) and details and all(isinstance(value, str) for value in details.values())
        else:
            assert details is None
    custom = [alert for alert in alerts if alert["detectionSource"] == "customDetection"]
    assert custom and all(alert["customDetails"]["ProcessCommandLine"].startswith(alert["customDetails"]["FileName"])
                          for alert in custom)


# Per evidence type, the properties Graph v1.0 metadata gives it besides alertEvidence's (Graph writes them all)
EVIDENCE_PROPERTIES = {
    "analyzedMessageEvidence": ("antiSpamDirection", "attachmentsCount", "deliveryAction", "deliveryLocation",
                                "internetMessageId", "language", "networkMessageId", "p1Sender", "p2Sender",
                                "receivedDateTime", "recipientEmailAddress", "senderIp", "subject",
                                "threatDetectionMethods", "threats", "urlCount", "urls", "urn"),
    "deviceEvidence": ("azureAdDeviceId", "defenderAvStatus", "deviceDnsName", "dnsDomain", "firstSeenDateTime",
                       "healthStatus", "hostName", "ipInterfaces", "lastExternalIpAddress", "lastIpAddress",
                       "loggedOnUsers", "mdeDeviceId", "ntDomain", "onboardingStatus", "osBuild", "osPlatform",
                       "rbacGroupId", "rbacGroupName", "resourceAccessEvents", "riskScore", "version", "vmMetadata"),
    "ipEvidence": ("countryLetterCode", "ipAddress", "location", "stream"),
    "mailboxEvidence": ("displayName", "primaryAddress", "upn", "userAccount"),
    "processEvidence": ("detectionStatus", "imageFile", "mdeDeviceId", "parentProcessCreationDateTime",
                        "parentProcessId", "parentProcessImageFile", "processCommandLine", "processCreationDateTime",
                        "processId", "userAccount"),
    "securityGroupEvidence": ("activeDirectoryObjectGuid", "displayName", "distinguishedName", "friendlyName",
                              "securityGroupId", "sid"),
    "userEvidence": ("stream", "userAccount"),
}
FILE_DETAILS = {"fileName", "filePath", "filePublisher", "fileSize", "issuer", "sha1", "sha256", "signer"}
GEO_LOCATION = {"city", "countryName", "latitude", "longitude", "state"}


def _evidence(listed, kind):
    return [(alert, item) for alert in _alerts(listed) for item in alert["evidence"]
            if item["@odata.type"] == f"#microsoft.graph.security.{kind}"]


@pytest.mark.parametrize("kind", sorted(EVIDENCE_PROPERTIES))
def test_evidence_has_every_property_of_its_type(listed, kind):
    found = _evidence(listed, kind)
    assert found, kind
    for dummy, item in found:
        assert set(EVIDENCE_PROPERTIES[kind]) <= set(item), set(EVIDENCE_PROPERTIES[kind]) - set(item)


def test_device_evidence_has_the_device_addresses_and_domain(listed):
    devices = {}
    for dummy, item in _evidence(listed, "deviceEvidence"):
        assert re.fullmatch(r"10\.\d+\.\d+\.\d+", item["lastIpAddress"])
        assert re.fullmatch(r"\d+\.\d+\.\d+\.\d+", item["lastExternalIpAddress"])
        assert item["ntDomain"] == item["loggedOnUsers"][0]["domainName"]
        assert item["resourceAccessEvents"] == []
        devices.setdefault(item["mdeDeviceId"], set()).add((item["lastIpAddress"], item["lastExternalIpAddress"]))
    assert all(len(addresses) == 1 for addresses in devices.values())  # a device keeps its addresses
    assert len({addresses.pop()[0] for addresses in devices.values()}) > 1


def test_mailbox_and_message_evidence_name_the_user_and_the_links(listed):
    for dummy, item in _evidence(listed, "mailboxEvidence"):
        assert item["upn"] == item["userAccount"]["userPrincipalName"] == item["primaryAddress"]
    for alert, item in _evidence(listed, "analyzedMessageEvidence"):
        links = [other["url"] for other in alert["evidence"]
                 if other["@odata.type"] == "#microsoft.graph.security.urlEvidence"]
        assert item["urls"] == links and item["urlCount"] == len(links) and links
        assert item["p2Sender"]["emailAddress"] == item["p1Sender"]["emailAddress"]
        assert item["deliveryLocation"] in ("inbox", "external", "junkFolder", "quarantine", "failed", "dropped",
                                            "deletedFolder", "forwarded")
        assert item["language"] == "en" and item["urn"] is None


def test_ip_evidence_locates_the_address_in_its_country(listed):
    countries = {"NL": "Netherlands", "BR": "Brazil", "SG": "Singapore"}
    for dummy, item in _evidence(listed, "ipEvidence"):
        location = item["location"]
        assert set(location) == GEO_LOCATION and location["countryName"] == countries[item["countryLetterCode"]]
        assert isinstance(location["latitude"], float) and isinstance(location["longitude"], float)
        assert item["stream"] is None
    assert all(item["stream"] is None for dummy, item in _evidence(listed, "userEvidence"))


def test_process_evidence_names_its_parent_image(sandbox, http, tokens, listed):
    """The parent is the one DeviceProcessEvents names as the initiating process."""
    found = _evidence(listed, "processEvidence")
    for dummy, item in found:
        parent = item["parentProcessImageFile"]
        assert set(parent) == FILE_DETAILS and parent["fileName"] and parent["filePath"].startswith("C:\\")
    parents = {item["parentProcessImageFile"]["fileName"] for dummy, item in found}
    assert {"WINWORD.EXE", "cmd.exe"} <= parents
    query = ("DeviceProcessEvents | where ProcessCommandLine startswith 'mshta.exe' "
             "| distinct InitiatingProcessFileName")
    response = http.post(f"{sandbox['base_url']}/v1.0/security/runHuntingQuery", json={"Query": query},
                         headers=bearer(tokens("soc-responder")))
    assert response.status_code == 200, response.text
    assert [row["InitiatingProcessFileName"] for row in response.json()["results"]] == ["WINWORD.EXE"]


def test_security_group_evidence_has_the_directory_names(listed):
    for dummy, item in _evidence(listed, "securityGroupEvidence"):
        assert item["sid"] == item["securityGroupId"] and item["sid"].startswith("S-1-5-21-")
        assert item["friendlyName"] == item["displayName"]
        assert item["distinguishedName"].startswith(f"CN={item['displayName']},CN=")
        assert item["distinguishedName"].endswith(",DC=contoso,DC=example")
        assert re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[0-9a-f]{4}-[0-9a-f]{12}",
                            item["activeDirectoryObjectGuid"])


# --- routing --------------------------------------------------------------------------------------------------------

def test_graph_serves_a_doubled_slash_after_the_version(sandbox, http, tokens):
    """The SDK's default configuration asks for /v1.0//security/...; Graph answers it like /v1.0/security/..."""
    headers = bearer(tokens("soc-reader"))
    plain = http.get(incidents_url(sandbox, "?$top=3"), headers=headers)
    doubled = http.get(f"{sandbox['base_url']}/v1.0//security/incidents?$top=3", headers=headers)
    assert doubled.status_code == 200, doubled.text
    assert [item["id"] for item in doubled.json()["value"]] == [item["id"] for item in plain.json()["value"]]
    first = plain.json()["value"][0]["id"]
    single = http.get(f"{sandbox['base_url']}/v1.0//security//incidents/{first}", headers=headers)
    assert single.status_code == 200 and single.json()["id"] == first
    hunt = http.post(f"{sandbox['base_url']}/v1.0//security/microsoft.graph.security.runHuntingQuery",
                     json={"Query": "AlertInfo | take 1"}, headers=bearer(tokens("soc-responder")))
    assert hunt.status_code == 200, hunt.text


def test_a_fault_on_a_graph_path_also_meets_the_doubled_slash(sandbox, http, tokens):
    add_fault(sandbox, http, method="GET", path=r"^/v1\.0/security/incidents$", status=503)
    response = http.get(f"{sandbox['base_url']}/v1.0//security/incidents", headers=bearer(tokens("soc-reader")))
    assert response.status_code == 503


def test_defender_keeps_its_pascal_case_investigation_states(sandbox, http):
    states = {alert["investigationState"] for incident in canonical(sandbox, http, api="defender")
              for alert in incident["alerts"]}
    assert "UnsupportedAlertType" in states and all(state[0].isupper() for state in states)


def test_an_update_names_its_author_as_last_modifier(sandbox, http, tokens, store):
    incident_id = store[23]["id"]
    response = http.patch(incidents_url(sandbox, f"/{incident_id}"), json={"customTags": ["Fidelity"]},
                          headers=bearer(tokens("soc-responder")))
    assert response.status_code == 200 and response.json()["lastModifiedBy"] == "soc-responder"


# --- links, comments, time stamps ---------------------------------------------------------------------------------

def test_portal_links_have_the_real_form(listed):
    for incident in listed:
        assert INCIDENT_URL.match(incident["incidentWebUrl"]).groups() == (incident["id"], incident["tenantId"])
        for alert in incident["alerts"]:
            assert alert["incidentWebUrl"] == incident["incidentWebUrl"]
            assert alert["alertWebUrl"] == (f"https://security.microsoft.com/alerts/{alert['id']}"
                                            f"?tid={incident['tenantId']}")


def test_comment_answers_carry_the_odata_type_with_its_hash(sandbox, http, tokens, store):
    response = http.post(incidents_url(sandbox, f"/{store[24]['id']}/comments"), headers=bearer(tokens("soc-responder")),
                         json={"@odata.type": "microsoft.graph.security.alertComment", "comment": "Typed."})
    assert response.status_code == 200, response.text
    assert {comment["@odata.type"] for comment in response.json()["value"]} == {
        "#microsoft.graph.security.alertComment"}


def _fraction_digits(text):
    assert TIMESTAMP.match(text), text
    return len(text[:-1].partition(".")[2])


def test_time_stamps_have_zero_to_seven_fraction_digits_like_real_answers(listed):
    stamps = [incident[name] for incident in listed for name in ("createdDateTime", "lastUpdateDateTime")]
    stamps += [alert["createdDateTime"] for alert in _alerts(listed)]
    digits = {_fraction_digits(stamp) for stamp in stamps}
    assert 7 in digits and 0 in digits and digits & {1, 2, 3}


def test_time_stamps_are_spelt_alike_in_both_apis(sandbox, http):
    graph = {incident["id"]: incident for incident in canonical(sandbox, http)}
    for incident in canonical(sandbox, http, api="defender"):
        twin = graph[str(incident["incidentId"])]
        assert incident["createdTime"] == twin["createdDateTime"]
        assert incident["lastUpdateTime"] == twin["lastUpdateDateTime"]
        assert [alert["creationTime"] for alert in incident["alerts"]] == [
            alert["createdDateTime"] for alert in twin["alerts"]]


def test_a_time_stamp_read_from_an_answer_filters_exactly(sandbox, http, tokens, store):
    """Spellings drop only trailing zeros, so `ge` and `gt` on a value read back select exactly as stored."""
    short = next(incident for incident in store if _fraction_digits(incident["createdDateTime"]) < 7)
    full = next(incident for incident in store if _fraction_digits(incident["createdDateTime"]) == 7)
    for incident in (short, full):
        for operator, included in (("ge", True), ("gt", False)):
            response = http.get(incidents_url(sandbox), headers=bearer(tokens("soc-reader")), params={
                "$filter": f"createdDateTime {operator} {incident['createdDateTime']}", "$top": "50"})
            ids = [item["id"] for item in response.json()["value"]]
            assert (incident["id"] in ids) == included, (operator, incident["createdDateTime"])


# --- Defender API order -----------------------------------------------------------------------------------------------

def _defender_pages(sandbox, http, token, top):
    pages, skip = [], 0
    while True:
        page = http.get(f"{sandbox['base_url']}/api/incidents", params={"$top": str(top), "$skip": str(skip)},
                        headers=bearer(token)).json()["value"]
        pages.append(page)
        skip += top
        if len(page) < top:
            return pages


def test_defender_list_is_most_recent_first(sandbox, http, tokens):
    first = http.get(f"{sandbox['base_url']}/api/incidents", params={"$top": "3"},
                     headers=bearer(tokens("soc-reader", DEFENDER))).json()["value"]
    newest = sorted(canonical(sandbox, http, api="defender"), key=lambda item: moment(item["createdTime"]),
                    reverse=True)[:3]
    assert [item["incidentId"] for item in first] == [item["incidentId"] for item in newest]


def test_defender_skip_paging_is_stable_across_updates(sandbox, http, tokens, store):
    token = tokens("soc-responder", DEFENDER)
    before = [item["incidentId"] for page in _defender_pages(sandbox, http, token, 40) for item in page]
    oldest = before[-1]
    http.patch(f"{sandbox['base_url']}/api/incidents/{oldest}", json={"comment": "Touched between pages."},
               headers=bearer(token)).raise_for_status()
    after = [item["incidentId"] for page in _defender_pages(sandbox, http, token, 40) for item in page]
    assert after == before and len(set(after)) == len(store)
    created = [moment(item["createdTime"]) for item in canonical(sandbox, http, api="defender")]
    assert created == sorted(created, reverse=True)


# --- generation ------------------------------------------------------------------------------------------------------

def test_generation_is_deterministic_and_precision_is_per_incident():
    from sandboxlib import datagen, scenario as scenarios  # pylint: disable=import-outside-toplevel
    tenant = scenarios.Tenant("6d9a1c1e-2f43-4b8e-9a0f-0c1b2d3e4f50", "Contoso", ("contoso.example",), 40)
    start = datetime.datetime(2026, 5, 1, 12, 0, 0, 123456, tzinfo=datetime.timezone.utc)
    first, second = datagen.generate(tenant, 40, start), datagen.generate(tenant, 40, start)
    assert first == second
    for incident in first:
        precisions = {stamp.microsecond % 1000 == 0 for stamp in (incident.created, incident.last_updated)}
        precisions |= {alert.created.microsecond % 1000 == 0 for alert in incident.alerts}
        assert len(precisions) == 1  # one precision for all of an incident's time stamps
