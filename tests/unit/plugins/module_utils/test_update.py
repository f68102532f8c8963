# -*- coding: utf-8 -*-
# Copyright: (c) 2026, secops.m365_defender contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy
import json
import re
import threading

import pytest
import requests

from ansible_collections.secops.m365_defender.plugins.module_utils._api import (
    CLASSIFICATION,
    DETERMINATION,
    FLAVOURS,
    ApiClient,
)
from ansible_collections.secops.m365_defender.plugins.module_utils._clouds import resolve_endpoints
from ansible_collections.secops.m365_defender.plugins.module_utils._errors import ApiError, InputError, M365DefenderError, TransportError
from ansible_collections.secops.m365_defender.plugins.module_utils._http import HttpClient
from ansible_collections.secops.m365_defender.plugins.module_utils import _update
from ansible_collections.secops.m365_defender.plugins.module_utils._update import (
    ItemLock,
    IncidentUpdate,
    apply_plan,
    check_pair,
    predicted,
    update_item,
)
from ansible_collections.secops.m365_defender.tests.unit.plugins.constants import DEFENDER, GRAPH
from ansible_collections.secops.m365_defender.tests.unit.plugins.fakes import FakeAuthenticator, IncidentService, make_response

TAGS_FIELD = {"graph": "customTags", "defender": "tags"}
APIS = ["graph", "defender"]

# Determination by classification, as the Defender update incident page spells it (docs/microsoft-apis.md §4).
TABLE = {
    "TruePositive": ["MultiStagedAttack", "MaliciousUserActivity", "CompromisedAccount", "Malware", "Phishing",
                     "UnwantedSoftware", "Other"],
    "InformationalExpectedActivity": ["SecurityTesting", "LineOfBusinessApplication", "ConfirmedActivity", "Other"],
    "FalsePositive": ["Clean", "NoEnoughDataToValidate", "Other"],
}
# The same table in the Graph spellings the error messages use (the Graph incident page's, docs/microsoft-apis.md §4).
GRAPH_TABLE = {
    "truePositive": ["multiStagedAttack", "maliciousUserActivity", "compromisedUser", "malware", "phishing",
                     "unwantedSoftware", "other"],
    "informationalExpectedActivity": ["securityTesting", "lineOfBusinessApplication", "confirmedUserActivity", "other"],
    "falsePositive": ["clean", "insufficientData", "other"],
}
DEPRECATED = ["apt", "securityPersonnel"]
GRAPH_DETERMINATIONS = ["unknown", "apt", "malware", "securityPersonnel", "securityTesting", "unwantedSoftware", "other",
                        "multiStagedAttack", "compromisedUser", "phishing", "maliciousUserActivity", "clean",
                        "insufficientData", "confirmedUserActivity", "lineOfBusinessApplication"]


def pair_keys(classification, determination):
    return CLASSIFICATION.key(classification), DETERMINATION.key(determination)


def refusal(error):
    """(classification key, determination key, keys of the allowed determinations) a refusal names, in any spelling."""
    match = re.match(r"^Determination '([^']+)' does not go with classification '([^']+)'; it allows: (.+)\.$", error.message)
    assert match, error.message
    determination, classification, allowed = match.groups()
    return (CLASSIFICATION.key(classification), DETERMINATION.key(determination),
            set(DETERMINATION.key(name) for name in allowed.split(", ")))


def params(**given):
    """The incident module's params as AnsibleModule hands them over: every option present."""
    values = dict(status=None, assigned_to=None, classification=None, determination=None, tags=None,
                  purge_tags=False, comment=None)
    values.update(given)
    return values


def update(api, **given):
    return IncidentUpdate(FLAVOURS[api], params(**given))


def incident(api, **fields):
    """A fresh incident as each API returns it: unassigned, unclassified, no tags, no comments."""
    if api == "graph":
        value = {"id": "7", "status": "active", "severity": "high", "assignedTo": None, "classification": "unknown",
                 "determination": "unknown", "customTags": [], "comments": []}
    else:
        value = {"incidentId": 7, "status": "Active", "severity": "High", "assignedTo": None,
                 "classification": "Unknown", "determination": "NotAvailable", "tags": [], "comments": []}
    value.update(fields)
    return value


# ----- check_pair: the determination-by-classification table


@pytest.mark.parametrize("classification, determination", [
    (classification, determination) for classification, allowed in sorted(TABLE.items()) for determination in allowed])
def test_every_documented_pair_passes(classification, determination):
    check_pair(*pair_keys(classification, determination))
    for api in APIS:
        update(api, classification=classification, determination=determination)


@pytest.mark.parametrize("classification, determination", [
    ("truePositive", "CompromisedUser"),
    ("true_positive", "compromised_account"),
    ("InformationalExpectedActivity", "ConfirmedUserActivity"),
    ("informational expected activity", "confirmed activity"),
    ("FalsePositive", "InsufficientData"),
    ("falsePositive", "notEnoughDataToValidate"),
    ("falsePositive", "notMalicious"),
])
def test_the_other_spellings_of_the_table_pass(classification, determination):
    """docs/microsoft-apis.md §4: the docs disagree on these spellings; every one of them is accepted."""
    check_pair(*pair_keys(classification, determination))
    for api in APIS:
        update(api, classification=classification, determination=determination)


DISALLOWED = [(classification, determination) for classification, allowed in sorted(GRAPH_TABLE.items())
              for determination in GRAPH_DETERMINATIONS
              if determination not in allowed + ["unknown", "securityPersonnel"]
              and not (determination == "apt" and classification == "truePositive")]


@pytest.mark.parametrize("classification, determination", DISALLOWED)
def test_a_determination_the_classification_does_not_allow_is_refused(classification, determination):
    with pytest.raises(InputError) as raised:
        check_pair(*pair_keys(classification, determination))
    named_classification, named_determination, allowed = refusal(raised.value)
    assert (named_classification, named_determination) == pair_keys(classification, determination)
    documented = set(DETERMINATION.key(name) for name in GRAPH_TABLE[classification])
    assert documented <= allowed <= documented | set(DETERMINATION.key(name) for name in DEPRECATED)


def test_the_same_refusal_before_any_request_on_both_apis():
    for api in APIS:
        with pytest.raises(InputError) as raised:
            update(api, classification="FalsePositive", determination="Malware")
        assert refusal(raised.value)[:2] == ("falsepositive", "malware")


@pytest.mark.parametrize("classification", [None, "unknown", "truePositive", "informationalExpectedActivity", "falsePositive"])
@pytest.mark.parametrize("determination", ["unknown", "NotAvailable", "not_available"])
def test_an_unknown_determination_goes_with_every_classification(classification, determination):
    check_pair(CLASSIFICATION.key(classification) if classification else None, DETERMINATION.key(determination))
    for api in APIS:
        update(api, classification=classification, determination=determination)


def test_without_a_classification_nothing_is_checked_yet():
    check_pair(None, "malware")
    check_pair("truepositive", None)
    for api in APIS:
        update(api, determination="clean")
        update(api, classification="falsePositive")


@pytest.mark.parametrize("determination", ["malware", "clean", "securityTesting", "other"])
def test_an_unclassified_incident_takes_no_determination_but_unknown(determination):
    with pytest.raises(InputError) as raised:
        check_pair(*pair_keys("unknown", determination))
    assert refusal(raised.value) == ("unknown", DETERMINATION.key(determination), set(["unknown"]))


def test_deprecated_apt_is_a_true_positive():
    check_pair(*pair_keys("truePositive", "Apt"))
    for classification in ("falsePositive", "informationalExpectedActivity"):
        with pytest.raises(InputError):
            check_pair(*pair_keys(classification, "apt"))


def test_deprecated_security_personnel_is_accepted_as_a_true_positive():
    check_pair(*pair_keys("truePositive", "SecurityPersonnel"))


def test_deprecated_security_personnel_is_no_false_positive():
    with pytest.raises(InputError):
        check_pair(*pair_keys("falsePositive", "securityPersonnel"))


# ----- IncidentUpdate: options refused before any request


@pytest.mark.parametrize("api", APIS)
@pytest.mark.parametrize("option, value", [
    ("status", "closed"),
    ("status", "high"),
    ("classification", "benign"),
    ("classification", "malware"),
    ("determination", "banana"),
    ("determination", "truePositive"),
])
def test_a_value_no_api_knows_names_the_option(api, option, value):
    with pytest.raises(InputError) as raised:
        update(api, **{option: value})
    assert raised.value.message.startswith("Option '%s' got '%s'" % (option, value))
    assert api in raised.value.message


def test_awaiting_action_exists_only_on_graph():
    update("graph", status="awaiting_action")
    with pytest.raises(InputError) as raised:
        update("defender", status="awaitingAction")
    assert "'status'" in raised.value.message


@pytest.mark.parametrize("api", APIS)
@pytest.mark.parametrize("value", ["redirected", "Redirected", "REDIRECTED"])
def test_redirected_cannot_be_set(api, value):
    with pytest.raises(InputError) as raised:
        update(api, status=value)
    assert "'status' cannot be 'redirected'" in raised.value.message


@pytest.mark.parametrize("api", APIS)
@pytest.mark.parametrize("text", ["", " ", "\n\t "])
def test_an_empty_comment_is_refused(api, text):
    with pytest.raises(InputError) as raised:
        update(api, comment=text)
    assert "'comment'" in raised.value.message


# ----- plan(): what must change, in the API's names and spellings


def per_api(cases):
    """(api, given..., sent) for each API that has a spelling of the value (None: that API has none)."""
    return [(api,) + case[:-2] + (case[-2] if api == "graph" else case[-1],)
            for case in cases for api in APIS if (case[-2] if api == "graph" else case[-1]) is not None]


@pytest.mark.parametrize("api, option, value, wanted", per_api([
    ("status", "in progress", "inProgress", "InProgress"),
    ("status", "RESOLVED", "resolved", "Resolved"),
    ("status", "awaiting_action", "awaitingAction", None),
    ("classification", "true_positive", "truePositive", "TruePositive"),
    ("classification", "Informational-Expected-Activity", "informationalExpectedActivity", "InformationalExpectedActivity"),
    ("classification", "FALSE POSITIVE", "falsePositive", "FalsePositive"),
]))
def test_enums_are_sent_in_the_apis_spelling(api, option, value, wanted):
    current = incident(api)
    plan = update(api, **{option: value}).plan(current)
    assert plan.changed
    assert plan.fields == {option: wanted}
    assert plan.comment is None
    assert plan.before == {option: current[option]}
    assert plan.after == {option: wanted}


@pytest.mark.parametrize("api, classification, determination, wanted", per_api([
    ("truepositive", "PHISHING", ("truePositive", "phishing"), ("TruePositive", "Phishing")),
    ("true positive", "multi staged attack", ("truePositive", "multiStagedAttack"), ("TruePositive", "MultiStagedAttack")),
    ("TruePositive", "compromised_user", None, ("TruePositive", "CompromisedAccount")),
    ("informationalExpectedActivity", "confirmedUserActivity", None, ("InformationalExpectedActivity", "ConfirmedActivity")),
    ("falsePositive", "notMalicious", None, ("FalsePositive", "Clean")),
    ("falsePositive", "insufficient data", None, ("FalsePositive", "NoEnoughDataToValidate")),
    ("falsePositive", "other", ("falsePositive", "other"), ("FalsePositive", "Other")),
]))
def test_classification_and_determination_are_sent_in_the_apis_spelling(api, classification, determination, wanted):
    plan = update(api, classification=classification, determination=determination).plan(incident(api))
    assert plan.fields == {"classification": wanted[0], "determination": wanted[1]}
    assert plan.after == {"classification": wanted[0], "determination": wanted[1]}


@pytest.mark.parametrize("classification, determination, member", [
    ("truePositive", "compromisedAccount", "compromisedAccount"),
    ("informationalExpectedActivity", "confirmedActivity", "confirmedActivity"),
    ("falsePositive", "notMalicious", "notMalicious"),
    ("falsePositive", "notEnoughDataToValidate", "notEnoughDataToValidate"),
])
def test_graph_gets_the_determination_members_of_its_metadata(classification, determination, member):
    plan = update("graph", classification=classification, determination=determination).plan(incident("graph"))
    assert plan.fields["determination"] == member


@pytest.mark.parametrize("api", APIS)
def test_the_same_value_in_another_spelling_changes_nothing(api):
    if api == "graph":
        current = incident(api, status="inProgress", classification="truePositive", determination="compromisedAccount",
                           assignedTo="Analyst@Contoso.com")
    else:
        current = incident(api, status="InProgress", classification="TruePositive", determination="CompromisedAccount",
                           assignedTo="Analyst@Contoso.com")
    plan = update(api, status="in_progress", classification="TRUE_POSITIVE", determination="compromised user",
                  assigned_to="analyst@contoso.COM").plan(current)
    assert not plan.changed
    assert (plan.fields, plan.comment, plan.before, plan.after) == ({}, None, {}, {})


@pytest.mark.parametrize("api", APIS)
@pytest.mark.parametrize("current", [None, "someone@contoso.com"])
def test_assigned_to_is_sent_as_given(api, current):
    plan = update(api, assigned_to="Analyst@Contoso.com").plan(incident(api, assignedTo=current))
    assert plan.fields == {"assignedTo": "Analyst@Contoso.com"}
    assert plan.before == {"assigned_to": current}
    assert plan.after == {"assigned_to": "Analyst@Contoso.com"}


@pytest.mark.parametrize("api", APIS)
def test_an_empty_assigned_to_unassigns_as_the_incident_module_documents(api):
    plan = update(api, assigned_to="").plan(incident(api, assignedTo="someone@contoso.com"))
    assert plan.fields == {"assignedTo": ""}
    assert plan.after == {"assigned_to": ""}
    for unassigned in (None, "", "Unassigned"):
        assert not update(api, assigned_to="").plan(incident(api, assignedTo=unassigned)).changed


@pytest.mark.parametrize("api", APIS)
def test_tags_are_added_to_the_incidents_without_duplicates(api):
    field = TAGS_FIELD[api]
    current = incident(api, **{field: ["a", "b"]})
    plan = update(api, tags=["c", "b", "d", "c"]).plan(current)
    sent = plan.fields[field]
    assert list(plan.fields) == [field], "Graph calls them customTags, the Defender API tags"
    assert sent[:2] == ["a", "b"], "the incident's tags are kept, in their order"
    assert sorted(sent[2:]) == ["c", "d"] and len(set(sent)) == len(sent)
    assert plan.before == {"tags": ["a", "b"]} and plan.after == {"tags": sent}
    assert current[field] == ["a", "b"], "the incident itself is not changed"


@pytest.mark.parametrize("api", APIS)
@pytest.mark.parametrize("tags", [["b"], ["a", "b"], ["b", "a", "a"], []])
def test_tags_already_there_change_nothing(api, tags):
    assert not update(api, tags=tags).plan(incident(api, **{TAGS_FIELD[api]: ["a", "b"]})).changed


@pytest.mark.parametrize("api", APIS)
def test_purge_tags_keeps_only_the_given_ones(api):
    field = TAGS_FIELD[api]
    plan = update(api, tags=["b", "c", "c"], purge_tags=True).plan(incident(api, **{field: ["a", "b"]}))
    assert sorted(plan.fields[field]) == ["b", "c"]
    assert plan.before == {"tags": ["a", "b"]}


@pytest.mark.parametrize("api", APIS)
@pytest.mark.parametrize("tags", [["b", "a"], ["a", "b", "b"], ["b", "a", "a", "b"]])
def test_purge_tags_ignores_order_and_repeats(api, tags):
    assert not update(api, tags=tags, purge_tags=True).plan(incident(api, **{TAGS_FIELD[api]: ["a", "b"]})).changed


@pytest.mark.parametrize("api", APIS)
def test_purge_tags_with_no_tags_removes_them_all(api):
    field = TAGS_FIELD[api]
    assert update(api, tags=[], purge_tags=True).plan(incident(api, **{field: ["a", "b"]})).fields == {field: []}
    assert not update(api, tags=[], purge_tags=True).plan(incident(api, **{field: []})).changed
    assert not update(api, purge_tags=True).plan(incident(api, **{field: ["a"]})).changed, "purge_tags alone does nothing"


@pytest.mark.parametrize("api", APIS)
@pytest.mark.parametrize("current", [None, "missing"])
def test_an_incident_without_tags(api, current):
    field = TAGS_FIELD[api]
    value = incident(api, **{field: current})
    if current == "missing":
        del value[field]
    plan = update(api, tags=["x"]).plan(value)
    assert plan.fields == {field: ["x"]}
    assert plan.before == {"tags": []}


def comments(api, *texts):
    author = "createdByDisplayName" if api == "graph" else "createdBy"
    return [{"comment": text, author: "someone"} for text in texts]


@pytest.mark.parametrize("api", APIS)
def test_a_comment_already_there_is_not_added_again(api):
    plan = update(api, comment="Taken by the night shift.").plan(
        incident(api, comments=comments(api, "First.", "Taken by the night shift.")))
    assert not plan.changed
    assert plan.comment is None


@pytest.mark.parametrize("api", APIS)
@pytest.mark.parametrize("text", ["Taken by the night shift", "taken by the night shift.", " Taken by the night shift."])
def test_a_comment_with_other_text_is_added(api, text):
    plan = update(api, comment=text).plan(incident(api, comments=comments(api, "First.", "Taken by the night shift.")))
    assert plan.changed
    assert plan.comment == text
    assert plan.fields == {}, "the comment is not an incident field"
    assert plan.before == {"comments": ["First.", "Taken by the night shift."]}
    assert plan.after == {"comments": ["First.", "Taken by the night shift.", text]}


@pytest.mark.parametrize("api", APIS)
def test_a_comment_on_an_incident_without_comments(api):
    plan = update(api, comment="First.").plan(incident(api, comments=None))
    assert plan.comment == "First." and plan.before == {"comments": []}


# ----- plan(): classification or determination alone, against the incident's other one


GRAPH_PAIRS = {"tp": ("truePositive", "malware"), "fp": ("falsePositive", "clean"), "none": ("unknown", "unknown"),
               "iea": ("informationalExpectedActivity", "compromisedAccount")}
DEFENDER_PAIRS = {"tp": ("TruePositive", "Malware"), "fp": ("FalsePositive", "Clean"), "none": ("Unknown", "NotAvailable"),
                  "iea": ("InformationalExpectedActivity", "CompromisedAccount")}


def classified(api, name):
    classification, determination = (GRAPH_PAIRS if api == "graph" else DEFENDER_PAIRS)[name]
    return incident(api, classification=classification, determination=determination)


@pytest.mark.parametrize("api", APIS)
@pytest.mark.parametrize("current, given, refused", [
    ("tp", {"classification": "falsePositive"}, ("malware", "falsePositive")),
    ("tp", {"classification": "informational expected activity"}, ("malware", "informationalExpectedActivity")),
    ("fp", {"classification": "truePositive"}, ("clean", "truePositive")),
    ("tp", {"determination": "clean"}, ("clean", "truePositive")),
    ("fp", {"determination": "phishing"}, ("phishing", "falsePositive")),
    ("none", {"determination": "malware"}, ("malware", "unknown")),
    ("tp", {"classification": "unknown"}, ("malware", "unknown")),
])
def test_one_of_the_pair_is_checked_against_the_incidents_other(api, current, given, refused):
    with pytest.raises(InputError) as raised:
        update(api, **given).plan(classified(api, current))
    assert refusal(raised.value)[:2] == (CLASSIFICATION.key(refused[1]), DETERMINATION.key(refused[0]))


@pytest.mark.parametrize("api", APIS)
@pytest.mark.parametrize("current, given, fields", [
    ("fp", {"determination": "insufficient_data"}, ["determination"]),
    ("tp", {"determination": "phishing"}, ["determination"]),
    ("none", {"classification": "falsePositive"}, ["classification"]),
    ("tp", {"determination": "unknown"}, ["determination"]),
    ("tp", {"classification": "truePositive"}, []),
    ("iea", {"classification": "informationalExpectedActivity", "status": "resolved"}, ["status"]),
    ("iea", {"status": "resolved", "tags": ["x"]}, ["status", "tags"]),
])
def test_pairs_that_fit_or_do_not_change_pass(api, current, given, fields):
    """An unchanged classification is not checked again (a portal may have stored an odd pair)."""
    plan = update(api, **given).plan(classified(api, current))
    assert sorted(plan.before) == fields


# ----- before and after


def test_before_and_after_of_every_option():
    current = incident("graph", assignedTo="old@contoso.com", customTags=["a"], comments=comments("graph", "First."))
    plan = update("graph", status="resolved", assigned_to="new@contoso.com", classification="truePositive",
                  determination="malware", tags=["b"], comment="Closed.").plan(current)
    assert plan.before == {"status": "active", "assigned_to": "old@contoso.com", "classification": "unknown",
                           "determination": "unknown", "tags": ["a"], "comments": ["First."]}
    assert plan.after == {"status": "resolved", "assigned_to": "new@contoso.com", "classification": "truePositive",
                          "determination": "malware", "tags": ["a", "b"], "comments": ["First.", "Closed."]}
    assert plan.fields == {"status": "resolved", "assignedTo": "new@contoso.com", "classification": "truePositive",
                           "determination": "malware", "customTags": ["a", "b"]}
    assert plan.comment == "Closed."


@pytest.mark.parametrize("api", APIS)
def test_nothing_to_do(api):
    current = incident(api, assignedTo="a@contoso.com", comments=comments(api, "Hello."), **{TAGS_FIELD[api]: ["x"]})
    plan = update(api, status="active", assigned_to="A@contoso.com", classification="unknown", determination="unknown",
                  tags=["x"], comment="Hello.").plan(current)
    assert plan.changed is False
    assert (plan.fields, plan.comment, plan.before, plan.after) == ({}, None, {}, {})
    assert not update(api).plan(current).changed, "no options, nothing to do"


# ----- predicted(): the incident as check mode reports it


@pytest.mark.parametrize("api", APIS)
def test_predicted_is_a_changed_copy(api):
    field = TAGS_FIELD[api]
    current = incident(api, comments=comments(api, "First."), **{field: ["a"]})
    snapshot = copy.deepcopy(current)
    plan = update(api, status="resolved", tags=["b"], comment="Closed.").plan(current)
    after = predicted(current, plan, FLAVOURS[api])
    assert current == snapshot, "the incident read from the API is left as it was"
    assert after is not current and after["comments"] is not current["comments"]
    assert after[field] == ["a", "b"]
    assert after["status"] == ("resolved" if api == "graph" else "Resolved")
    assert after["comments"] == comments(api, "First.") + [{"comment": "Closed."}]
    untouched = dict((name, value) for name, value in after.items() if name not in ("status", field, "comments"))
    assert untouched == dict((name, value) for name, value in snapshot.items() if name not in ("status", field, "comments"))


@pytest.mark.parametrize("api", APIS)
@pytest.mark.parametrize("current", [None, "missing"])
def test_predicted_comment_on_an_incident_without_comments(api, current):
    value = incident(api, comments=current)
    if current == "missing":
        del value["comments"]
    plan = update(api, comment="First.").plan(value)
    assert predicted(value, plan, FLAVOURS[api])["comments"] == [{"comment": "First."}]


def test_predicted_without_a_comment_keeps_the_comments():
    current = incident("graph", comments=comments("graph", "First."))
    after = predicted(current, update("graph", status="resolved").plan(current), FLAVOURS["graph"])
    assert after["comments"] == comments("graph", "First.")


# ----- apply_plan(): the requests that carry the plan out


class Clock(object):
    def __init__(self):
        self.now = 5000.0

    def __call__(self):
        return self.now


def make_client(api, sleep=None, clock=None, timeout=30, retries=0):
    endpoints = resolve_endpoints(api=api, graph_url=GRAPH, defender_url=DEFENDER)
    http = HttpClient(retries=retries, timeout=timeout, sleep=sleep or (lambda seconds: None), clock=clock or Clock())
    return ApiClient(endpoints, http, FakeAuthenticator("the-token"), "contoso.example")


def served(api, transport, **fields):
    client = make_client(api)
    service = IncidentService(api, client.endpoints.api_url, [incident(api, **fields)])
    transport.handler = service
    return client, service


def sent(transport):
    return [(seen.method, seen.path, json.loads(seen.body) if seen.body else None) for seen in transport.seen]


def test_graph_patches_the_changed_fields_then_posts_the_comment(transport):
    client, service = served("graph", transport, assignedTo="a@contoso.com", comments=comments("graph", "First."))
    current = incident("graph", assignedTo="a@contoso.com", comments=comments("graph", "First."))
    plan = update("graph", status="in progress", assigned_to="A@contoso.com", tags=["t"], comment="Taken.").plan(current)
    result = apply_plan(client, "7", plan, current).item
    assert sent(transport) == [
        ("PATCH", "/v1.0/security/incidents/7", {"status": "inProgress", "customTags": ["t"]}),
        ("POST", "/v1.0/security/incidents/7/comments",
         {"@odata.type": "microsoft.graph.security.alertComment", "comment": "Taken."}),
    ]
    assert all(seen.headers["Authorization"] == "Bearer the-token" for seen in transport.seen)
    assert "@odata.context" not in result
    assert (result["status"], result["customTags"], result["assignedTo"]) == ("inProgress", ["t"], "a@contoso.com")
    assert [entry["comment"] for entry in result["comments"]] == ["First.", "Taken."]
    assert result["comments"][-1]["@odata.type"] == "#microsoft.graph.security.alertComment", "the POST's answer"


def test_graph_comment_only_sends_no_patch(transport):
    client, service = served("graph", transport, comments=comments("graph", "First."))
    current = incident("graph", comments=comments("graph", "First."))
    snapshot = copy.deepcopy(current)
    plan = update("graph", comment="Taken.").plan(current)
    result = apply_plan(client, "7", plan, current).item
    assert [(method, path) for method, path, body in sent(transport)] == [("POST", "/v1.0/security/incidents/7/comments")]
    assert current == snapshot
    assert dict((name, value) for name, value in result.items() if name != "comments") == \
        dict((name, value) for name, value in current.items() if name != "comments")
    assert [entry["comment"] for entry in result["comments"]] == ["First.", "Taken."]
    assert result["comments"] == [dict({"@odata.type": "#microsoft.graph.security.alertComment"}, **entry)
                                  for entry in service.incidents["7"]["comments"]]


def test_defender_sends_one_patch_with_the_comment(transport):
    client, service = served("defender", transport)
    current = incident("defender")
    plan = update("defender", status="resolved", classification="truePositive", determination="compromised user",
                  tags=["phishing"], comment="Closed.").plan(current)
    result = apply_plan(client, "7", plan, current).item
    assert sent(transport) == [("PATCH", "/api/incidents/7", {
        "status": "Resolved", "classification": "TruePositive", "determination": "CompromisedAccount",
        "tags": ["phishing"], "comment": "Closed."})]
    assert "@odata.context" not in result
    assert result["status"] == "Resolved" and result["tags"] == ["phishing"]
    assert [entry["comment"] for entry in result["comments"]] == ["Closed."]


def test_defender_comment_only_is_a_patch_too(transport):
    client, service = served("defender", transport)
    current = incident("defender")
    result = apply_plan(client, "7", update("defender", comment="Noted.").plan(current), current).item
    assert sent(transport) == [("PATCH", "/api/incidents/7", {"comment": "Noted."})]
    assert [entry["comment"] for entry in result["comments"]] == ["Noted."]


def test_defender_without_a_comment_sends_no_comment_key(transport):
    client, service = served("defender", transport)
    current = incident("defender")
    apply_plan(client, "7", update("defender", assigned_to="x@contoso.com").plan(current), current)
    assert sent(transport) == [("PATCH", "/api/incidents/7", {"assignedTo": "x@contoso.com"})]


def test_defender_updates_are_paced_below_50_a_minute(transport):
    """docs/microsoft-apis.md §5: 50 updates a minute; the 51st within the minute waits for the first to age out."""
    clock, waits = Clock(), []
    client = make_client("defender", sleep=waits.append, clock=clock)
    transport.handler = IncidentService("defender", client.endpoints.api_url, [incident("defender")])
    current = incident("defender")
    plan = update("defender", status="resolved").plan(current)
    for dummy in range(50):
        apply_plan(client, "7", plan, current)
        clock.now += 1.0
    assert waits == []
    apply_plan(client, "7", plan, current)
    assert waits == [10.0], "the first update was 50 s ago; 10 s more and it leaves the minute"


def test_graph_updates_and_comments_are_not_paced(transport):
    """docs/microsoft-apis.md §5 lists no per-minute limit for Graph incident updates."""
    waits = []
    client = make_client("graph", sleep=waits.append)
    transport.handler = IncidentService("graph", client.endpoints.api_url, [incident("graph")])
    current = incident("graph")
    plan = update("graph", status="resolved", comment="x").plan(current)
    for dummy in range(60):
        apply_plan(client, "7", plan, current)
    assert waits == [] and len(transport.seen) == 120


# ----- a write that fails part-way: what was applied is said, and changed tells the truth


FORBIDDEN = {"error": {"code": "Forbidden", "message": "Missing application roles."}}


def texts(value):
    return [entry["comment"] for entry in value.get("comments") or []]


def test_a_comment_refused_after_the_fields_landed_reports_the_fields_as_applied(transport):
    client, service = served("graph", transport)
    service.refuse["POST"] = make_response(403, FORBIDDEN)
    current = incident("graph")
    plan = update("graph", status="resolved", tags=["x"], comment="Closed.").plan(current)
    with pytest.raises(ApiError) as raised:
        apply_plan(client, "7", plan, current)
    details = raised.value.details
    assert details["changed"] is True, "the status and the tags did change"
    assert (details["applied"], details["not_applied"], details["unconfirmed"]) == (["status", "tags"], ["comment"], [])
    assert "applied: status, tags" in raised.value.message and "not applied: comment" in raised.value.message
    assert "HTTP 403" in raised.value.message and raised.value.status == 403
    assert service.incidents["7"]["status"] == "resolved" and texts(service.incidents["7"]) == []


@pytest.mark.parametrize("api", APIS)
def test_a_refused_update_applies_nothing_and_says_so(transport, api):
    client, service = served(api, transport)
    service.refuse["PATCH"] = make_response(403, FORBIDDEN)
    current = incident(api)
    plan = update(api, status="resolved", comment="Closed.").plan(current)
    with pytest.raises(ApiError) as raised:
        apply_plan(client, "7", plan, current)
    details = raised.value.details
    assert details["changed"] is False
    assert (details["applied"], details["not_applied"], details["unconfirmed"]) == ([], ["status", "comment"], [])
    assert "applied: nothing" in raised.value.message
    assert [seen.method for seen in transport.seen] == ["PATCH"], "no comment after a refused update"


def test_503_on_a_comment_is_not_done_so_the_incident_is_not_read_again(transport):
    client, service = served("graph", transport)
    service.refuse["POST"] = make_response(503, {"error": {"code": "ServiceUnavailable", "message": "Busy."}})
    current = incident("graph")
    with pytest.raises(ApiError) as raised:
        apply_plan(client, "7", update("graph", comment="Closed.").plan(current), current)
    assert raised.value.details["not_applied"] == ["comment"] and raised.value.details["unconfirmed"] == []
    assert [seen.method for seen in transport.seen] == ["POST"]


# ----- a write whose outcome is unknown: read again, never sent again


class LandsLate(object):
    """The API under a client that gives up: the first comment write (Graph's POST, the Defender PATCH) gets
    `failure` instead of its answer and is carried out only after `delay` more requests (None: never)."""

    def __init__(self, service, delay, failure=None):
        self.service = service
        self.delay = delay
        self.failure = failure or requests.exceptions.ReadTimeout("Read timed out. (read timeout=30)")
        self.method = "POST" if service.api == "graph" else "PATCH"
        self.pending = None
        self.lost = False

    def __call__(self, seen):
        if self.pending is not None and self.delay is not None:
            if self.delay == 0:
                self.service(self.pending)
                self.pending = None
            else:
                self.delay -= 1
        if seen.method == self.method and not self.lost:
            self.lost, self.pending = True, seen
            if self.delay == 0:
                self.service(self.pending)
                self.pending = None
            if isinstance(self.failure, requests.Response):
                return self.failure
            raise self.failure
        return self.service(seen)


def late(api, transport, delay, timeout=5, failure=None, **fields):
    waits = []
    client = make_client(api, sleep=waits.append, timeout=timeout)
    service = IncidentService(api, client.endpoints.api_url, [incident(api, **fields)])
    transport.handler = LandsLate(service, delay, failure)
    return client, service, waits


@pytest.mark.parametrize("api", APIS)
def test_a_comment_that_lands_after_the_timeout_is_found_and_not_sent_again(transport, api):
    client, service, waits = late(api, transport, delay=2)
    current = incident(api)
    outcome = apply_plan(client, "7", update(api, comment="Taken.").plan(current), current)
    assert texts(service.incidents["7"]) == ["Taken."], "exactly one copy"
    assert [seen.method for seen in transport.seen].count("GET") == 3, "read at once, then until it showed"
    assert len([seen for seen in transport.seen if seen.method != "GET"]) == 1, "the write was sent once"
    assert outcome.applied == ["comment"] and texts(outcome.item) == ["Taken."]
    assert waits == [1.0, 1.0]
    assert "got no usable answer" in outcome.warnings[0] and "not sent again" in outcome.warnings[0]


@pytest.mark.parametrize("api", APIS)
def test_a_comment_that_never_shows_is_reported_unconfirmed_after_a_bounded_wait(transport, api):
    client, service, waits = late(api, transport, delay=None, timeout=5)
    current = incident(api)
    plan = update(api, assigned_to="a@contoso.com", comment="Taken.").plan(current)
    with pytest.raises(TransportError) as raised:
        apply_plan(client, "7", plan, current)
    assert sum(waits) == 5.0, "about as long again as the request's timeout"
    assert len([seen for seen in transport.seen if seen.method != "GET"]) == (2 if api == "graph" else 1)
    details = raised.value.details
    if api == "graph":
        assert (details["applied"], details["unconfirmed"], details["not_applied"]) == (["assigned_to"], ["comment"], [])
    else:
        assert (details["applied"], details["unconfirmed"], details["not_applied"]) == ([], ["assigned_to", "comment"], [])
    assert details["changed"] is True, "the comment may still land"
    assert "not confirmed: " in raised.value.message and "was not sent again" in raised.value.message
    assert texts(service.incidents["7"]) == []


def test_the_wait_is_spread_over_at_most_ten_reads(transport):
    client, service, waits = late("graph", transport, delay=None, timeout=60)
    current = incident("graph")
    with pytest.raises(TransportError):
        apply_plan(client, "7", update("graph", comment="Taken.").plan(current), current)
    assert waits == [6.0] * 10
    assert [seen.method for seen in transport.seen].count("GET") == 11


@pytest.mark.parametrize("failure, status", [
    (make_response(500, {"error": {"code": "InternalServerError", "message": "Oops."}}), 500),
    (make_response(502, text="<html>Bad gateway</html>"), 502),
    (make_response(504, text="<html>Gateway timeout</html>"), 504),
    (make_response(200, text='{"value": [{"comm'), 200),
    (make_response(200, {"value": "abc"}), None),
])
def test_answers_that_do_not_say_whether_the_comment_was_added_lead_to_a_read(transport, failure, status):
    client, service, waits = late("graph", transport, delay=0, failure=failure)
    current = incident("graph")
    outcome = apply_plan(client, "7", update("graph", comment="Taken.").plan(current), current)
    assert texts(service.incidents["7"]) == ["Taken."] and outcome.applied == ["comment"]
    assert [seen.method for seen in transport.seen] == ["POST", "GET"] and waits == []


def test_a_patch_answer_that_is_no_incident_is_checked_by_reading_again(transport):
    client, service, waits = late("defender", transport, delay=0, failure=make_response(200, {"value": "abc"}))
    current = incident("defender")
    outcome = apply_plan(client, "7", update("defender", status="resolved", comment="Closed.").plan(current), current)
    assert outcome.item["status"] == "Resolved" and texts(outcome.item) == ["Closed."]
    assert [seen.method for seen in transport.seen] == ["PATCH", "GET"]


# ----- update_item: read, plan and write under one lock per incident


@pytest.fixture
def lock_directory(tmp_path):
    return str(tmp_path / "locks")


def test_check_mode_writes_nothing_and_takes_no_lock(transport, lock_directory):
    client, service = served("graph", transport)
    plan, outcome = update_item(client, update("graph", status="resolved"), "7", check_mode=True,
                                lock_directory=lock_directory)
    assert plan.changed and outcome.item["status"] == "resolved" and not outcome.wrote
    assert service.writes == []


def test_an_unknown_incident_fails_before_any_write(transport, lock_directory):
    client, service = served("graph", transport)
    with pytest.raises(ApiError) as raised:
        update_item(client, update("graph", status="resolved"), "99", lock_directory=lock_directory)
    assert raised.value.status == 404 and "Incident 99 does not exist" in raised.value.message


def test_a_second_lock_on_the_same_incident_waits_then_gives_up(lock_directory):
    ticks = Clock()

    def sleep(seconds):
        ticks.now += seconds

    with ItemLock("tenant/incident/7", lock_directory):
        with ItemLock("tenant/incident/8", lock_directory):
            pass
        with pytest.raises(M365DefenderError) as raised:
            with ItemLock("tenant/incident/7", lock_directory, wait=2.0, sleep=sleep, clock=ticks):
                pass
        assert "Another task on this machine has been updating tenant/incident/7" in raised.value.message
        assert "nothing was sent" in raised.value.message
    with ItemLock("tenant/incident/7", lock_directory, wait=0.0):
        pass


def test_a_lock_directory_others_can_use_is_refused(tmp_path):
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)
    with pytest.raises(M365DefenderError) as raised:
        with ItemLock("tenant/7", str(shared)):
            pass
    assert "only this user" in raised.value.message
    link = tmp_path / "link"
    link.symlink_to(tmp_path / "elsewhere", target_is_directory=True)
    (tmp_path / "elsewhere").mkdir(mode=0o700)
    with pytest.raises(M365DefenderError):
        with ItemLock("tenant/7", str(link)):
            pass


class BothRead(object):
    """Holds the answer of each read of the incident until two tasks have read it (or 0.5 s passed): without a
    lock, two parallel tasks both find the comment missing."""

    def __init__(self, service):
        self.service = service
        self.barrier = threading.Barrier(2, timeout=0.5)
        self.lock = threading.Lock()

    def __call__(self, seen):
        with self.lock:
            answer = self.service(seen)
        if seen.method == "GET":
            try:
                self.barrier.wait()
            except threading.BrokenBarrierError:
                pass
        return answer


def run_in_parallel(transport, api, lock_directory, count=2):
    service = IncidentService(api, make_client(api).endpoints.api_url, [incident(api)])
    transport.handler = BothRead(service)
    errors = []

    def one():
        try:
            update_item(make_client(api), update(api, comment="Taken."), "7", lock_directory=lock_directory)
        except Exception as exc:  # pylint: disable=broad-except
            errors.append(exc)

    threads = [threading.Thread(target=one) for dummy in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert errors == []
    return service


@pytest.mark.parametrize("api", APIS)
def test_parallel_tasks_add_the_same_comment_once(transport, api, lock_directory):
    service = run_in_parallel(transport, api, lock_directory)
    assert texts(service.incidents["7"]) == ["Taken."]
    assert len(service.writes) == 1


def test_without_the_lock_parallel_tasks_add_it_twice(transport, lock_directory, monkeypatch):
    """The race the lock prevents is real in this set-up: the test above can fail."""

    class NoLock(object):
        def __init__(self, *args, **kwargs):
            pass

        def __enter__(self):
            return self

        def __exit__(self, *args):
            return False

    monkeypatch.setattr(_update, "ItemLock", NoLock)
    service = run_in_parallel(transport, "graph", lock_directory)
    assert texts(service.incidents["7"]) == ["Taken.", "Taken."]


class TenantToken(FakeAuthenticator):
    @property
    def claims(self):
        return {"tid": "6D9A1C1E-2F43-4B8E-9A0F-0C1B2D3E4F50"}


def test_the_lock_is_per_tenant_kind_and_item_whatever_the_api():
    graph, defender = make_client("graph"), make_client("defender")
    incidents = FLAVOURS["graph"], FLAVOURS["defender"]
    assert _update.lock_key(graph, incidents[0], "7") == _update.lock_key(defender, incidents[1], "7") \
        == "contoso.example/incident/7"
    assert _update.lock_key(graph, incidents[0], "8") != _update.lock_key(graph, incidents[0], "7")
    assert _update.lock_key(graph, FLAVOURS["graph"].alerts, "7") == "contoso.example/alert/7", \
        "an alert never shares a lock with the incident of the same number"
    graph.authenticator = TenantToken()
    assert _update.lock_key(graph, incidents[0], "7") == "6d9a1c1e-2f43-4b8e-9a0f-0c1b2d3e4f50/incident/7", \
        "the token's tenant id, so that a domain and the GUID of one tenant share the lock"


def test_a_field_change_without_an_answer_is_unconfirmed_and_the_comment_not_sent(transport):
    waits = []
    client = make_client("graph", sleep=waits.append, timeout=3)
    service = IncidentService("graph", client.endpoints.api_url, [incident("graph")],
                              refuse={"PATCH": make_response(502, text="<html>Bad gateway</html>")})
    transport.handler = service
    current = incident("graph")
    with pytest.raises(ApiError) as raised:
        apply_plan(client, "7", update("graph", status="resolved", comment="Closed.").plan(current), current)
    details = raised.value.details
    assert (details["applied"], details["unconfirmed"], details["not_applied"]) == ([], ["status"], ["comment"])
    assert "a second time" not in raised.value.message, "only a comment can pile up"
    assert [seen.method for seen in transport.seen] == ["PATCH", "GET", "GET", "GET", "GET"] and waits == [1.0] * 3
