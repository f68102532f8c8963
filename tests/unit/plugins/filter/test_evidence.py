# -*- coding: utf-8 -*-
# Copyright: (c) 2026, secops.m365_defender contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The evidence filter and module_utils._evidence: alerts' evidence of either API as the same plain lists."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import re
import subprocess
import sys

import pytest
import yaml

from ansible.errors import AnsibleFilterError

from ansible_collections.secops.m365_defender.plugins.filter import evidence as plugin
from ansible_collections.secops.m365_defender.plugins.filter.evidence import FilterModule, evidence
from ansible_collections.secops.m365_defender.plugins.module_utils._errors import InputError
from ansible_collections.secops.m365_defender.plugins.module_utils._evidence import (
    COMMON_FIELDS,
    DEFENDER_ENTITIES,
    FIELDS,
    GRAPH_EVIDENCE,
    KINDS,
    evidence_lists,
)

RECORDED = os.path.join(os.path.dirname(__file__), "..", "..", "fixtures", "recorded")
LISTS = ("devices", "users", "mailboxes", "files", "processes", "ips", "urls", "cloud_apps")
ENTITY_KEYS = ("entityType", "sha1", "sha256", "fileName", "filePath", "processId", "processCommandLine",
               "processCreationTime", "parentProcessId", "parentProcessCreationTime", "ipAddress", "url", "accountName",
               "domainName", "userSid", "aadUserId", "userPrincipalName", "mailboxDisplayName", "mailboxAddress",
               "clusterBy", "sender", "recipient", "subject", "deliveryAction", "securityGroupId", "securityGroupName",
               "registryHive", "registryKey", "registryValueType", "registryValue", "deviceId")
MSSENSE_SHA256 = "8963a19fb992ad9a76576c5638fd68292cffb9aaac29eb8285f9abf6196a7dec"
GRAPH_DEVICE = "73e7e2de709dff64ef64b1d0c30e67fab63279db"
GRAPH_ALERT = "da637551227677560813_-961444813"


def recorded(name):
    with open(os.path.join(RECORDED, name), encoding="utf-8") as handle:
        return json.load(handle)


def graph_alert(alert_id, incident_id, *evidence):
    return {"id": alert_id, "incidentId": incident_id, "title": "t", "evidence": list(evidence)}


def graph(kind, verdict="unknown", remediation="none", roles=None, **fields):
    item = {"@odata.type": "#microsoft.graph.security.%s" % kind, "createdDateTime": "2026-04-01T10:00:00Z",
            "verdict": verdict, "remediationStatus": remediation, "remediationStatusDetails": None,
            "roles": roles or [], "detailedRoles": [], "tags": []}
    item.update(fields)
    return item


def defender_alert(alert_id, incident_id, devices=(), entities=()):
    return {"alertId": alert_id, "incidentId": incident_id, "title": "t", "devices": list(devices),
            "entities": list(entities)}


def entity(entity_type, **values):
    """A Defender API entity: all 31 keys, null where not given."""
    item = dict.fromkeys(ENTITY_KEYS)
    item.update(values, entityType=entity_type)
    return item


def only(result, kind):
    """The one entry of a list, the others being empty."""
    assert [name for name in LISTS if result[name]] == [kind]
    assert len(result[kind]) == 1
    return result[kind][0]


# --- Microsoft's recorded answers -------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def graph_recorded():
    return evidence_lists(recorded("graph_list_alerts_v2.json")["value"])


@pytest.fixture(scope="module")
def defender_recorded():
    return evidence_lists(recorded("defender_list_incidents.json")["value"])


def test_graph_recorded_device(graph_recorded):
    assert graph_recorded["devices"] == [{
        "dns_name": "tempDns", "host_name": "tempDns", "mde_device_id": GRAPH_DEVICE, "azure_ad_device_id": None,
        "risk_score": "medium", "health_status": "active", "os_platform": "Windows10", "os_build": 22424,
        "last_ip_address": None, "last_external_ip_address": None, "rbac_group_name": "UnassignedGroup",
        "verdict": "unknown", "remediation_status": "none", "roles": ["compromised"], "alert_ids": [GRAPH_ALERT],
        "incident_ids": ["28282"]}]


def test_graph_recorded_file_and_process(graph_recorded):
    assert graph_recorded["files"] == [{
        "file_name": "MsSense.exe", "file_path": "C:\\Program Files\\temp",
        "sha1": "5f1e8acedc065031aad553b710838eb366cfee9a", "sha256": MSSENSE_SHA256, "size": 6136392,
        "mde_device_id": GRAPH_DEVICE, "verdict": "unknown", "remediation_status": "none", "roles": [],
        "alert_ids": [GRAPH_ALERT], "incident_ids": ["28282"]}]
    assert graph_recorded["processes"] == [{
        "process_id": 4780, "command_line": '"MsSense.exe"', "created": "2021-08-12T12:43:19.0772577Z",
        "file_name": "MsSense.exe", "file_path": "C:\\Program Files\\temp",
        "sha1": "5f1e8acedc065031aad553b710838eb366cfee9a", "sha256": MSSENSE_SHA256, "parent_process_id": 668,
        "parent_created": "2021-08-12T07:39:09.0909239Z", "account_name": "SYSTEM", "domain_name": "NT AUTHORITY",
        "mde_device_id": GRAPH_DEVICE, "verdict": "unknown", "remediation_status": "none", "roles": [],
        "alert_ids": [GRAPH_ALERT], "incident_ids": ["28282"]}]


def test_graph_recorded_registry_key_is_left_out(graph_recorded):
    assert sum(len(graph_recorded[kind]) for kind in LISTS) == 3  # of 4 evidence items


def test_defender_recorded_devices_and_files(defender_recorded):
    assert defender_recorded["devices"] == [{
        "dns_name": "user5cx.middleeast.corp.contoso.com", "host_name": "user5cx",
        "mde_device_id": "24c222b0b60fe148eeece49ac83910cc6a7ef491", "azure_ad_device_id": None,
        "risk_score": "high", "health_status": "active", "os_platform": "WindowsServer2016", "os_build": 14393,
        "last_ip_address": None, "last_external_ip_address": None, "rbac_group_name": "WDATP-Ring0",
        "verdict": None, "remediation_status": None, "roles": [], "alert_ids": ["da637349914833441527_393341063"],
        "incident_ids": ["924521"]}]
    assert defender_recorded["files"] == [{
        "file_name": "Detector.UnitTests.dll",
        "file_path": "C:\\Agent\\_work\\_temp\\Deploy_SYSTEM 2020-09-06 12_14_54\\Out",
        "sha1": "5de839186691aa96ee2ca6d74f0a38fb8d1bd6dd", "sha256": None, "size": None,
        "mde_device_id": "24c222b0b60fe148eeece49ac83910cc6a7ef491", "verdict": None, "remediation_status": None,
        "roles": [], "alert_ids": ["da637349914833441527_393341063"], "incident_ids": ["924521"]}]


def test_defender_recorded_users_mailboxes_ips(defender_recorded):
    mcas, office = "caD70CFEE2-1F54-32DB-9988-3A868A1EBFAC", "faf8edc936-85f8-a603-b800-08d8525cf099"
    assert defender_recorded["users"] == [{
        "account_name": "testUser2", "domain_name": "europe.corp.contoso",
        "user_principal_name": "testUser2@contoso.com",
        "azure_ad_user_id": "fc8f7484-f813-4db2-afab-bc1507913fb6",
        "user_sid": "S-1-5-21-1721254763-462695806-1538882281-4156657", "display_name": None, "verdict": None,
        "remediation_status": None, "roles": [], "alert_ids": [mcas], "incident_ids": ["924565"]}]
    assert [(box["primary_address"], box["display_name"], box["user_principal_name"], box["alert_ids"])
            for box in defender_recorded["mailboxes"]] == [
        ("testUser3@contoso.com", "test User3", "testUser3@contoso.com", [office]),
        ("test.User4@contoso.com", "test User4", "testUser4@contoso.com", [office])]
    ips = defender_recorded["ips"]
    assert [(ip["ip_address"], ip["country"], ip["alert_ids"], ip["incident_ids"]) for ip in ips] == [
        ("62.216.203.204", None, [mcas], ["924565"]), ("49.50.81.121", None, [office], ["924518"])]
    assert defender_recorded["processes"] == defender_recorded["urls"] == defender_recorded["cloud_apps"] == []


@pytest.mark.parametrize("name", ["graph_list_alerts_v2.json", "defender_list_incidents.json"])
def test_every_entry_has_exactly_its_lists_keys(name):
    result = evidence_lists(recorded(name)["value"])
    assert tuple(result) == LISTS == KINDS
    for kind in LISTS:
        for entry in result[kind]:
            assert list(entry) == list(FIELDS[kind] + COMMON_FIELDS)


# --- the same entity read through either API --------------------------------------------------------------------------

EQUIVALENT = [
    ("devices",
     graph("deviceEvidence", mdeDeviceId="a1b2", azureAdDeviceId="d-1", deviceDnsName="ws-01.contoso.com",
           osPlatform="Windows11", osBuild=22631, version="23H2", healthStatus="active", riskScore="high",
           rbacGroupName="Workstations", lastIpAddress="10.0.0.5", lastExternalIpAddress="203.0.113.9"),
     {"mdatpDeviceId": "a1b2", "aadDeviceId": "d-1", "deviceDnsName": "ws-01.contoso.com", "osPlatform": "Windows11",
      "osBuild": 22631, "version": "23H2", "healthStatus": "Active", "riskScore": "High",
      "rbacGroupName": "Workstations"}),
    ("users",
     graph("userEvidence", userAccount={"accountName": "jdoe", "domainName": "CONTOSO",
                                        "userSid": "S-1-5-21-1-2-3-1104", "azureAdUserId": "u-1",
                                        "userPrincipalName": "jdoe@contoso.com", "displayName": "J Doe"}),
     entity("User", accountName="jdoe", domainName="CONTOSO", userSid="S-1-5-21-1-2-3-1104", aadUserId="u-1",
            userPrincipalName="jdoe@contoso.com")),
    ("mailboxes",
     graph("mailboxEvidence", displayName="J Doe", primaryAddress="j.doe@contoso.com", upn="jdoe@contoso.com"),
     entity("MailBox", mailboxDisplayName="J Doe", mailboxAddress="j.doe@contoso.com",
            userPrincipalName="jdoe@contoso.com")),
    ("files",
     graph("fileEvidence", mdeDeviceId="a1b2", fileDetails={"fileName": "x.dll", "filePath": "C:\\Temp", "sha1": "s1",
                                                            "sha256": "s256", "fileSize": 1024}),
     entity("File", fileName="x.dll", filePath="C:\\Temp", sha1="s1", sha256="s256", deviceId="a1b2")),
    ("processes",
     graph("processEvidence", processId=42, processCommandLine="x.exe -q",
           processCreationDateTime="2026-04-01T09:00:00Z", parentProcessId=7,
           parentProcessCreationDateTime="2026-04-01T08:00:00Z", mdeDeviceId="a1b2",
           imageFile={"fileName": "x.exe", "filePath": "C:\\Temp", "sha1": "p1", "sha256": "p256"},
           userAccount={"accountName": "jdoe", "domainName": "CONTOSO"}),
     entity("Process", processId=42, processCommandLine="x.exe -q", processCreationTime="2026-04-01T09:00:00Z",
            parentProcessId=7, parentProcessCreationTime="2026-04-01T08:00:00Z", deviceId="a1b2", fileName="x.exe",
            filePath="C:\\Temp", sha1="p1", sha256="p256", accountName="jdoe", domainName="CONTOSO")),
    ("ips", graph("ipEvidence", ipAddress="198.51.100.7", countryLetterCode="NL"),
     entity("Ip", ipAddress="198.51.100.7")),
    ("urls", graph("urlEvidence", url="https://evil.example/a"), entity("Url", url="https://evil.example/a")),
]
GRAPH_ONLY = {"devices": ("last_ip_address", "last_external_ip_address"), "users": ("display_name",),
              "files": ("size",), "ips": ("country",)}
VERDICT_FIELDS = ("verdict", "remediation_status", "roles")


@pytest.mark.parametrize("kind, graph_item, defender_item", EQUIVALENT, ids=[case[0] for case in EQUIVALENT])
def test_either_api_gives_the_same_entry(kind, graph_item, defender_item):
    placement = {"devices": [defender_item]} if kind == "devices" else {"entities": [defender_item]}
    graph_entry = only(evidence_lists(graph_alert("da1", "9", graph_item)), kind)
    defender_entry = only(evidence_lists(defender_alert("da1", 9, **placement)), kind)
    skipped = VERDICT_FIELDS + GRAPH_ONLY.get(kind, ())
    assert dict((key, value) for key, value in graph_entry.items() if key not in skipped) == \
        dict((key, value) for key, value in defender_entry.items() if key not in skipped)
    assert all(graph_entry[field] is not None for field in FIELDS[kind])  # the pair carries every field
    assert [defender_entry[field] for field in skipped] == [None, None, []] + [None] * len(GRAPH_ONLY.get(kind, ()))


def test_the_pair_is_merged_into_one_entry_across_apis():
    alerts = [graph_alert("g1", "9", *[case[1] for case in EQUIVALENT])]
    alerts.append(defender_alert("d1", 9, devices=[EQUIVALENT[0][2]], entities=[case[2] for case in EQUIVALENT[1:]]))
    result = evidence_lists(alerts)
    for kind, graph_item, defender_item in EQUIVALENT:
        assert [entry["alert_ids"] for entry in result[kind]] == [["g1", "d1"]]
        assert result[kind][0]["incident_ids"] == ["9"]


# --- merging --------------------------------------------------------------------------------------------------------

def test_one_file_in_three_alerts_keeps_the_most_severe_verdict_and_first_values():
    first = graph("fileEvidence", roles=["contextual"], fileDetails={"sha256": "ABC", "fileName": "a.exe"})
    second = graph("fileEvidence", "malicious", "blocked", roles=["attacker", "contextual"],
                   fileDetails={"sha256": "abc", "fileName": "renamed.exe", "fileSize": 10})
    third = graph("fileEvidence", "noThreatsFound", "notFound", fileDetails={"sha256": "abc"})
    result = evidence_lists([graph_alert("a1", "1", first), graph_alert("a2", "2", second),
                             graph_alert("a3", "1", third)])
    assert result["files"] == [{
        "file_name": "a.exe", "file_path": None, "sha1": None, "sha256": "ABC", "size": 10, "mde_device_id": None,
        "verdict": "malicious", "remediation_status": "blocked", "roles": ["contextual", "attacker"],
        "alert_ids": ["a1", "a2", "a3"], "incident_ids": ["1", "2"]}]


@pytest.mark.parametrize("verdicts, kept", [
    (["unknown", "suspicious"], ("suspicious", "s1")),
    (["malicious", "suspicious"], ("malicious", "s0")),
    (["noThreatsFound", "unknown"], ("unknown", "s1")),
    (["Malicious", "NoThreatsFound"], ("malicious", "s0")),
    ([None, "noThreatsFound"], ("noThreatsFound", "s1")),
    (["suspicious", "suspicious"], ("suspicious", "s0")),
    (["unknownFutureValue", "noThreatsFound"], ("noThreatsFound", "s1")),
    ([None, "unknownFutureValue"], ("unknownFutureValue", "s1")),
])
def test_verdict_ranks_malicious_suspicious_unknown_nothreats_null(verdicts, kept):
    items = [graph("ipEvidence", verdict, "s%d" % number, ipAddress="192.0.2.1")
             for number, verdict in enumerate(verdicts)]
    entry = only(evidence_lists(graph_alert("a", "1", *items)), "ips")
    assert (entry["verdict"], entry["remediation_status"]) == kept


def test_the_remediation_status_is_the_one_of_the_kept_verdict():
    items = [graph("ipEvidence", "malicious", None, ipAddress="192.0.2.1"),
             graph("ipEvidence", "unknown", "blocked", ipAddress="192.0.2.1")]
    entry = only(evidence_lists(graph_alert("a", "1", *items)), "ips")
    assert (entry["verdict"], entry["remediation_status"]) == ("malicious", None)


def test_entries_keep_the_order_of_first_appearance():
    result = evidence_lists([
        graph_alert("a1", "1", graph("urlEvidence", url="https://b.example"),
                    graph("urlEvidence", url="https://a.example")),
        defender_alert("a2", 2, entities=[entity("Url", url="https://c.example"),
                                          entity("Url", url="https://b.example")]),
    ])
    assert [(url["url"], url["alert_ids"]) for url in result["urls"]] == [
        ("https://b.example", ["a1", "a2"]), ("https://a.example", ["a1"]), ("https://c.example", ["a2"])]


def device(mde=None, dns=None):
    return graph("deviceEvidence", mdeDeviceId=mde, deviceDnsName=dns)


def user(**account):
    return graph("userEvidence", userAccount=account)


def mailbox(**fields):
    return graph("mailboxEvidence", **fields)


def file_(sha1=None, sha256=None, path=None, name=None):
    return graph("fileEvidence", fileDetails={"sha1": sha1, "sha256": sha256, "filePath": path, "fileName": name})


IDENTITY_CASES = [
    ("devices", [device("AB12", "h1.x"), device("ab12", "other")], 1),
    ("devices", [device("ab12", "h1.x"), device(None, "H1.X")], 1),
    ("devices", [device("ab12", "h1.x"), device("cd34", "h1.x")], 2),
    ("devices", [device(None, None), device(None, None)], 2),
    ("users", [user(azureAdUserId="U-1"), user(azureAdUserId="u-1", accountName="x")], 1),
    ("users", [user(userPrincipalName="J@Contoso.com"), user(userPrincipalName="j@contoso.com")], 1),
    ("users", [user(accountName="JDoe", domainName="contoso"), user(accountName="jdoe", domainName="CONTOSO")], 1),
    ("users", [user(accountName="jdoe", domainName="contoso"), user(accountName="jdoe", domainName="fabrikam")], 2),
    ("users", [user(accountName="lb", domainName="C", userSid="S-1"),
               user(accountName="lb", domainName="C", userSid="S-2")], 2),
    ("users", [user(azureAdUserId="u-1", userPrincipalName="a@c"),
               user(azureAdUserId="u-2", userPrincipalName="a@c")], 2),
    ("mailboxes", [mailbox(primaryAddress="A@c.com"), mailbox(primaryAddress="a@C.com")], 1),
    ("mailboxes", [mailbox(primaryAddress="a@c.com"), mailbox(primaryAddress="b@c.com")], 2),
    ("mailboxes", [mailbox(primaryAddress="a@c.com", upn="u@c.com"),
                   mailbox(primaryAddress="b@c.com", upn="u@c.com")], 2),
    ("mailboxes", [mailbox(upn="U@c.com"), mailbox(primaryAddress="b@c.com", upn="u@c.com")], 1),
    ("users", [user(userSid="s-1-5-21-9"), user(userSid="S-1-5-21-9", displayName="x")], 1),
    ("files", [file_("S1", "S256"), file_("s1")], 1),
    ("files", [file_(sha1="s1"), file_(sha1="s1", sha256="s256")], 1),
    ("files", [file_(sha256="s256", path="C:\\t", name="a"), file_(sha256="other", path="C:\\t", name="a")], 2),
    ("files", [file_(path="C:\\T", name="A.exe"), file_(path="c:\\t", name="a.EXE")], 1),
    ("files", [file_(path="C:\\t", name="a.exe"), file_(path="C:\\t", name="b.exe")], 2),
    ("processes", [graph("processEvidence", processId=4, mdeDeviceId="d", processCreationDateTime="t1"),
                   graph("processEvidence", processId=4, mdeDeviceId="D", processCreationDateTime="t1")], 1),
    ("processes", [graph("processEvidence", processId=4, mdeDeviceId="d", processCreationDateTime="t1"),
                   graph("processEvidence", processId=4, mdeDeviceId="d", processCreationDateTime="t2")], 2),
    ("processes", [graph("processEvidence", processId=0, mdeDeviceId="d", processCreationDateTime="t1"),
                   graph("processEvidence", processId=0, mdeDeviceId="d", processCreationDateTime="t1")], 1),
    ("ips", [graph("ipEvidence", ipAddress="2001:DB8::1"), graph("ipEvidence", ipAddress="2001:db8::1")], 1),
    ("urls", [graph("urlEvidence", url="https://x.example/A"), graph("urlEvidence", url="https://x.example/a")], 2),
    ("cloud_apps", [graph("cloudApplicationEvidence", appId=20893, instanceId=0, displayName="Exchange Online"),
                    graph("cloudApplicationEvidence", appId=20893, instanceId=0)], 1),
    ("cloud_apps", [graph("cloudApplicationEvidence", appId=20893, instanceId=0),
                    graph("cloudApplicationEvidence", appId=20893, instanceId=1)], 2),
]


@pytest.mark.parametrize("kind, items, count", IDENTITY_CASES)
def test_identity_per_list(kind, items, count):
    result = evidence_lists([graph_alert("a%d" % number, "1", item) for number, item in enumerate(items)])
    assert len(result[kind]) == count
    if count == 1:
        assert result[kind][0]["alert_ids"] == ["a%d" % number for number in range(len(items))]


def test_a_device_known_by_dns_name_only_is_filled_in_from_the_other_alert():
    result = evidence_lists([graph_alert("a1", "1", device(None, "ws-9.contoso.com")),
                             graph_alert("a2", "1", graph("deviceEvidence", mdeDeviceId="ab12", hostName="WS-9",
                                                          deviceDnsName="ws-9.contoso.com"))])
    assert [(entry["mde_device_id"], entry["host_name"]) for entry in result["devices"]] == [("ab12", "ws-9")]


# --- what is left out, what is read ---------------------------------------------------------------------------------

@pytest.mark.parametrize("kind", ["analyzedMessageEvidence", "mailClusterEvidence", "registryKeyEvidence",
                                  "registryValueEvidence", "securityGroupEvidence", "oauthApplicationEvidence"])
def test_graph_evidence_of_other_types_is_left_out(kind):
    item = graph(kind, "malicious", ipAddress="192.0.2.1", url="https://x.example", appId=1, displayName="x")
    assert evidence_lists(graph_alert("a", "1", item)) == dict((name, []) for name in LISTS)


@pytest.mark.parametrize("entity_type", ["MailMessage", "MailCluster", "Registry", "SecurityGroup", None])
def test_defender_entities_of_other_types_are_left_out(entity_type):
    item = entity(entity_type, ipAddress="192.0.2.1", url="https://x.example", userPrincipalName="a@c.com")
    assert evidence_lists(defender_alert("a", 1, entities=[item])) == dict((name, []) for name in LISTS)


def test_entity_types_are_read_in_any_case():
    assert only(evidence_lists(defender_alert("a", 1, entities=[entity("MAILBOX", mailboxAddress="a@c.com")])),
                "mailboxes")["primary_address"] == "a@c.com"


def test_graph_mailbox_falls_back_on_its_user_account():
    item = graph("mailboxEvidence", primaryAddress="a@c.com",
                 userAccount={"userPrincipalName": "upn@c.com", "displayName": "From Account"})
    entry = only(evidence_lists(graph_alert("a", "1", item)), "mailboxes")
    assert (entry["display_name"], entry["user_principal_name"]) == ("From Account", "upn@c.com")


def test_cloud_application():
    item = graph("cloudApplicationEvidence", roles=["contextual"], appId=20893, displayName="Microsoft Exchange Online",
                 instanceId=0, instanceName="Microsoft Exchange Online", saasAppId=20893)
    assert only(evidence_lists(graph_alert("a", "1", item)), "cloud_apps") == {
        "app_id": 20893, "display_name": "Microsoft Exchange Online", "instance_id": 0,
        "instance_name": "Microsoft Exchange Online", "verdict": "unknown", "remediation_status": "none",
        "roles": ["contextual"], "alert_ids": ["a"], "incident_ids": ["1"]}


# --- shapes of input --------------------------------------------------------------------------------------------------

IP = graph("ipEvidence", ipAddress="192.0.2.1")
D_IP = entity("Ip", ipAddress="192.0.2.1")


def ip_ids(data):
    entry = only(evidence_lists(data), "ips")
    return entry["alert_ids"], entry["incident_ids"]


def test_one_alert_of_each_api():
    assert ip_ids(graph_alert("g", "5", IP)) == (["g"], ["5"])
    assert ip_ids(defender_alert("d", 5, entities=[D_IP])) == (["d"], ["5"])


def test_an_incidents_alerts_take_its_id_when_they_have_none():
    graph_incident = {"id": "77", "displayName": "x", "alerts": [{"id": "g", "evidence": [IP]}]}
    defender_incident = {"incidentId": 78, "alerts": [{"alertId": "d", "incidentId": None, "entities": [D_IP]}]}
    assert ip_ids(graph_incident) == (["g"], ["77"])
    assert ip_ids(defender_incident) == (["d"], ["78"])
    assert ip_ids({"id": "77", "alerts": [graph_alert("g", "70", IP)]}) == (["g"], ["70"])


def test_a_list_mixing_apis_and_shapes():
    data = [graph_alert("g1", "1", IP), {"incidentId": 2, "alerts": [defender_alert("d1", 2, entities=[D_IP])]},
            {"id": "3", "alerts": [graph_alert("g3", "3", IP)]}, {"title": "no evidence"}, []]
    assert ip_ids(data) == (["g1", "d1", "g3"], ["1", "2", "3"])


def test_module_results_are_read():
    incidents = recorded("defender_list_incidents.json")["value"]
    incident_result = {"changed": False, "api": "defender", "incidents": incidents}
    assert evidence_lists(incident_result) == evidence_lists(incident_result["incidents"])
    alert_result = {"changed": False, "alerts": recorded("graph_list_alerts_v2.json")["value"]}
    assert evidence_lists(alert_result)["files"][0]["sha256"] == MSSENSE_SHA256


@pytest.mark.parametrize("data", [[], {}, {"title": "x"}, {"alerts": None}, {"incidents": []},
                                  {"id": "1", "evidence": None, "devices": None, "entities": None}])
def test_nothing_to_read_gives_empty_lists(data):
    assert evidence_lists(data) == dict((name, []) for name in LISTS)


@pytest.mark.parametrize("data, message", [
    ("da123", "evidence: input is a string ('da123'), where an alert, an incident"),
    (5, "evidence: input is a number (5), where"),
    (None, "evidence: input is null, where"),
    (True, "evidence: input is a boolean, where"),
    ("x" * 50, "input is a string ('%s...')" % ("x" * 40)),
    ([{"id": "a"}, "da123"], "evidence: input[1] is a string ('da123')"),
    ({"alerts": "a1,a2"}, "evidence: input.alerts is a string where a list of objects belongs."),
    ({"incidents": {"id": 1}}, "evidence: input.incidents is an object where a list of objects belongs."),
    ([{"alerts": [{"id": "a", "evidence": [IP, 3]}]}], "input[0].alerts[0].evidence is a list holding a number"),
    ({"alertId": "d", "entities": "Ip"}, "input.entities is a string"),
    ({"alertId": "d", "devices": {"mdatpDeviceId": "x"}}, "input.devices is an object"),
])
def test_other_input_is_refused_saying_where_and_what(data, message):
    with pytest.raises(InputError) as raised:
        evidence_lists(data)
    assert message in str(raised.value)


# --- the filter -------------------------------------------------------------------------------------------------------

def test_the_filter_is_registered():
    assert FilterModule().filters() == {"evidence": evidence}


def test_the_filter_turns_input_errors_into_filter_errors():
    with pytest.raises(AnsibleFilterError, match=re.escape("input is a string ('x')")):
        evidence("x")


# A play's templating in a fresh interpreter: Ansible finds a collection's plugins by FQCN only through the
# collection finder installed before anything under ansible_collections is imported, as ansible-playbook does.
TEMPLATING = """
import json, sys
from ansible.utils.collection_loader import AnsibleCollectionConfig
from ansible.utils.collection_loader._collection_finder import _AnsibleCollectionFinder
if AnsibleCollectionConfig.collection_finder is None:
    _AnsibleCollectionFinder(paths=[sys.argv[1]])._install()
from ansible.errors import AnsibleError
from ansible.parsing.dataloader import DataLoader
from ansible.template import Templar
try:
    from ansible.template import trust_as_template
except ImportError:
    trust_as_template = str
job = json.load(sys.stdin)
try:
    print(json.dumps({"value": Templar(loader=DataLoader(), variables=job["variables"]).template(
        trust_as_template(job["template"]))}))
except AnsibleError as exc:
    print(json.dumps({"error": type(exc).__name__, "message": str(exc)}))
"""


def templated(template, **variables):
    """What Ansible's templating makes of `template`: {"value": ...} or {"error": class name, "message": ...}."""
    root = os.path.abspath(os.path.join(os.path.dirname(plugin.__file__), *[".."] * 5))
    answer = subprocess.run([sys.executable, "-c", TEMPLATING, root], check=True, capture_output=True, text=True,
                            input=json.dumps({"template": template, "variables": variables}),
                            env=dict(os.environ, PYTHONPATH=os.pathsep.join([root] + sys.path)))
    return json.loads(answer.stdout.strip().splitlines()[-1])


def test_through_ansible_templating():
    template = ("{{ ((alert_result.alerts | secops.m365_defender.evidence).files | map(attribute='sha256') | list)"
                " + ((incident_result | secops.m365_defender.evidence).devices | map(attribute='host_name') | list) }}")
    assert templated(template, alert_result={"alerts": recorded("graph_list_alerts_v2.json")["value"]},
                     incident_result={"incidents": recorded("defender_list_incidents.json")["value"]}) == {
        "value": [MSSENSE_SHA256, "user5cx"]}


def test_through_ansible_templating_an_error_names_the_input():
    answer = templated("{{ 'nothing' | secops.m365_defender.evidence }}")
    assert "evidence: input is a string ('nothing'), where an alert" in answer["message"]


# --- the documentation ------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def documentation():
    with open(os.path.join(os.path.dirname(plugin.__file__), "evidence.yml"), encoding="utf-8") as handle:
        return yaml.safe_load(handle)


def test_the_documentation_names_every_list_and_field(documentation):
    lists = documentation["RETURN"]["_value"]["contains"]
    assert list(lists) == list(LISTS)
    for kind in LISTS:
        text = " ".join(lists[kind]["description"]) if isinstance(lists[kind]["description"], list) \
            else lists[kind]["description"]
        assert [field for field in FIELDS[kind] if "C(%s)" % field not in text] == []
        for sample in lists[kind].get("sample", []):
            assert list(sample) == list(FIELDS[kind] + COMMON_FIELDS)
    common = " ".join(documentation["RETURN"]["_value"]["description"])
    assert [field for field in COMMON_FIELDS if "C(%s)" % field not in common] == []


def test_the_documentation_names_what_is_left_out_and_it_is(documentation):
    text = " ".join(documentation["DOCUMENTATION"]["description"])
    left_out = re.search(r"Evidence types left out: (.*?)\. A Graph", text).group(1)
    graph_types = re.findall(r"V\((\w+Evidence)\)", left_out)
    defender_types = re.findall(r"V\(([A-Z]\w+)\)", left_out)
    assert len(graph_types) == 5 and len(defender_types) == 4
    assert not set(graph_types) & set(GRAPH_EVIDENCE)
    assert not set(name.lower() for name in defender_types) & set(DEFENDER_ENTITIES)
