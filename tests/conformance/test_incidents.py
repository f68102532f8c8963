"""Graph's security incidents through the SDK: paging, $expand=alerts, $filter, PATCH and comments, and every answer
read back into the SDK's models without losing a value (sdkcheck.py).

What the sandbox holds comes from its admin API (the ``store`` fixture), never from the API under test.
"""
from __future__ import annotations

import pytest
from kiota_abstractions.base_request_configuration import RequestConfiguration
from kiota_abstractions.method import Method
from kiota_abstractions.request_information import RequestInformation
from kiota_serialization_json.json_parse_node_factory import JsonParseNodeFactory
from msgraph.generated.models.o_data_errors.o_data_error import ODataError
from msgraph.generated.models.security.alert_classification import AlertClassification
from msgraph.generated.models.security.alert_comment import AlertComment
from msgraph.generated.models.security.alert_determination import AlertDetermination
from msgraph.generated.models.security.alert_evidence import AlertEvidence
from msgraph.generated.models.security.alert_severity import AlertSeverity
from msgraph.generated.models.security.incident import Incident
from msgraph.generated.models.security.incident_status import IncidentStatus
from msgraph.generated.security.incidents.incidents_request_builder import IncidentsRequestBuilder
from msgraph.generated.security.incidents.item.incident_item_request_builder import IncidentItemRequestBuilder
from msgraph_core.tasks.page_iterator import PageIterator

import graphsdk
import sdkcheck

TENANTS = ('Contoso', 'Fabrikam')
# Members the sandbox cannot hold: unknownFutureValue is the enums' evolvability sentinel.
SENTINEL = 'unknownFutureValue'


def list_query(**query):
    return RequestConfiguration(query_parameters=IncidentsRequestBuilder.IncidentsRequestBuilderGetQueryParameters(**query))


def incidents_with_alerts(graph):
    """Every incident of the tenant with $expand=alerts; [(model, raw JSON)] in the answer's order."""
    return graphsdk.every_page(graph, graph.client.security.incidents, list_query(expand=['alerts']))


@pytest.fixture(scope='module')
def everything(graph_for):
    """{tenant: [(incident model, raw JSON)]} with alerts, for every tenant soc-responder may read."""
    return dict((tenant, incidents_with_alerts(graph_for(tenant))) for tenant in TENANTS)


@pytest.fixture(scope='module')
def walked(everything):
    """[(tenant, entity, model, raw, path)] of every model in every incident: incidents, alerts, comments, evidence."""
    return [(tenant, entity, item, item_raw, path) for tenant, incidents in everything.items() for model, raw in incidents
            for entity, item, item_raw, path in sdkcheck.walk(model, raw, '%s incident %s' % (tenant, model.id))]


def test_page_iterator_reads_every_incident(graph, store):
    """The SDK's PageIterator follows @odata.nextLink to the end: every incident once, newest first."""
    first = graph.run(graph.client.security.incidents.get())
    seen = []
    iterator = PageIterator(first, graph.adapter)
    graph.run(iterator.iterate(lambda incident: seen.append(incident.id) or True))
    expected = [incident['id'] for incident in store()]
    assert len(expected) == 237
    assert seen == expected


def test_count(graph, store):
    page = graph.run(graph.client.security.incidents.get(list_query(count=True, top=5)))
    assert page.odata_count == len(store())
    assert len(page.value) == 5


def test_expand_alerts(everything, store):
    """$expand=alerts: each incident's alerts, as the sandbox holds them, through every page and tenant."""
    for tenant, incidents in everything.items():
        expected = dict((incident['id'], [alert['id'] for alert in incident['alerts']]) for incident in store(tenant))
        got = dict((model.id, [alert.id for alert in model.alerts]) for model, _raw in incidents)
        assert got == expected, tenant
        assert all(alert.incident_id == model.id for model, _raw in incidents for alert in model.alerts)


def test_get_one_with_alerts(graph, store):
    incident = store()[1]
    query = IncidentItemRequestBuilder.IncidentItemRequestBuilderGetQueryParameters(expand=['alerts'])
    model = graph.run(graph.client.security.incidents.by_incident_id(incident['id']).get(RequestConfiguration(query_parameters=query)))
    assert (model.id, model.display_name) == (incident['id'], incident['displayName'])
    assert [alert.id for alert in model.alerts] == [alert['id'] for alert in incident['alerts']]
    assert not sdkcheck.lost_values(model, graph.last().received, 'incident %s' % model.id)


def test_unknown_incident_is_an_odata_error(graph):
    """Graph's error body parses into the SDK's ODataError, code and message included."""
    with pytest.raises(ODataError) as raised:
        graph.run(graph.client.security.incidents.by_incident_id('999999999').get())
    assert raised.value.response_status_code == 404
    assert raised.value.error.code == 'NotFound'
    assert raised.value.error.message


def test_no_enum_value_lost(everything):
    """Every value the sandbox sends parses: no enum member the SDK does not know (it would read None), no time
    stamp or number it cannot read — in incidents, their alerts, comments and evidence."""
    problems = []
    for tenant, incidents in everything.items():
        for model, raw in incidents:
            problems.extend(sdkcheck.lost_values(model, raw, '%s incident %s' % (tenant, model.id)))
    assert not problems, 'values the SDK could not read:\n' + sdkcheck.describe(problems)


def test_enum_values_cover_the_enums(everything):
    """The walk is not vacuous: the answers hold many enum values, and the sandbox uses several members of each."""
    seen = dict((name, set()) for name in ('status', 'severity', 'classification', 'determination'))
    for _tenant, incidents in everything.items():
        for model, _raw in incidents:
            for name, values in seen.items():
                values.add(getattr(model, name))
    assert all(len(values - {None}) >= 3 for values in seen.values()), seen


def test_every_property_known_to_the_sdk(walked):
    """Every property the sandbox sends is one of the SDK's model (else it is not Graph's: it lands in
    additional_data). Evidence must come as its @odata.type's subclass, not as the base alertEvidence."""
    unknown = sdkcheck.by_entity((entity, sdkcheck.unknown_properties(model, raw)) for _tenant, entity, model, raw, _path in walked)
    assert not unknown, 'properties the SDK does not know, per entity: %s' % unknown
    base_evidence = [path for _tenant, entity, _model, _raw, path in walked if entity == AlertEvidence.__name__]
    assert not base_evidence, 'evidence read as the base type: %s' % base_evidence[:10]


def test_odata_types_are_qualified(walked):
    """Graph writes @odata.type as '#microsoft.graph.…' (JSON format, OData 4.01): the SDK picks evidence
    subclasses by exactly that."""
    wrong = sorted(set(raw['@odata.type'] for _tenant, _entity, _model, raw, _path in walked
                       if '@odata.type' in raw and not raw['@odata.type'].startswith('#microsoft.graph.')))
    assert not wrong


@pytest.mark.parametrize('group', ['Incident', 'Alert', 'AlertComment', 'evidence'])
def test_no_property_missing(walked, group):
    """Graph sends every property of the type (null when unset); report, per entity, what the SDK's model has and
    the sandbox leaves out. Navigation properties come only with $expand (here: an incident's alerts)."""
    findings = []
    for _tenant, entity, model, raw, _path in walked:
        evidence = isinstance(model, AlertEvidence)
        if (group == 'evidence' and evidence) or entity == group:
            findings.append((entity, sdkcheck.missing_properties(model, raw)))
    assert findings, 'no %s in the answers' % group
    missing = sdkcheck.by_entity(findings)
    assert not missing, 'properties the sandbox leaves out, per entity: %s' % missing


UPDATES = [
    (AlertClassification.FalsePositive, AlertDetermination.NotMalicious),
    (AlertClassification.FalsePositive, AlertDetermination.NotEnoughDataToValidate),
    (AlertClassification.TruePositive, AlertDetermination.CompromisedAccount),
    (AlertClassification.TruePositive, AlertDetermination.MultiStagedAttack),
    (AlertClassification.InformationalExpectedActivity, AlertDetermination.ConfirmedActivity),
]


@pytest.mark.parametrize('classification, determination', UPDATES, ids=[update[1].value for update in UPDATES])
def test_patch_round_trip(graph, store, classification, determination):
    """PATCH with the SDK's Incident model; the answer, a fresh GET and the sandbox's store all hold what was sent."""
    target = store()[10 + UPDATES.index((classification, determination))]
    sent = Incident(status=IncidentStatus.Resolved, classification=classification, determination=determination,
                    assigned_to='secops.lead@contoso.example', custom_tags=['conformance', determination.value])
    item = graph.client.security.incidents.by_incident_id(target['id'])
    answer = graph.run(item.patch(sent))
    assert graph.last('PATCH').sent == {'status': 'resolved', 'classification': classification.value,
                                        'determination': determination.value,
                                        'assignedTo': 'secops.lead@contoso.example', 'customTags': sent.custom_tags}
    assert not sdkcheck.lost_values(answer, graph.last('PATCH').received, 'PATCH answer')
    again = graph.run(item.get())
    wanted = (IncidentStatus.Resolved, classification, determination, 'secops.lead@contoso.example', sent.custom_tags)
    for model in (answer, again):
        assert (model.status, model.classification, model.determination, model.assigned_to, model.custom_tags) == wanted
    held = next(incident for incident in store() if incident['id'] == target['id'])
    assert (held['classification'], held['determination']) == (classification.value, determination.value)


def post_comment(graph, incident_id, text):
    """POST /security/incidents/{id}/comments with the SDK's AlertComment, as Graph documents it: one object in,
    the incident's comments (``{"value": [...]}``) out.

    msgraph-sdk has no request builder for this call (only for alerts' comments, which send a JSON array), and its
    send_collection_async reads the documented answer as an empty list; so the SDK's own adapter sends the request
    and the SDK's JSON parse node reads ``value`` into AlertComment models."""
    request = RequestInformation(Method.POST, '{+baseurl}/security/incidents/{incident%2Did}/comments', {'incident%2Did': incident_id})
    request.set_content_from_parsable(graph.adapter, 'application/json', AlertComment(comment=text))
    body = graph.run(graph.adapter.send_primitive_async(request, 'bytes', {'XXX': ODataError}))
    root = JsonParseNodeFactory().get_root_parse_node('application/json', body)
    return root.get_child_node('value').get_collection_of_object_values(AlertComment)


def test_comment_round_trip(graph, store, app):
    incident = store()[20]
    text = 'Conformance: reviewed with the Graph SDK.'
    comments = post_comment(graph, incident['id'], text)
    raw = graph.last('POST').received
    assert graph.last('POST').sent == {'comment': text}
    assert not sdkcheck.lost_values(comments[-1], raw['value'][-1], 'comment answer')
    assert [comment.comment for comment in comments] == [comment['comment'] for comment in incident['comments']] + [text]
    assert comments[-1].created_by_display_name == app['name']
    assert all(item.get('@odata.type', '#microsoft.graph.security.alertComment') == '#microsoft.graph.security.alertComment'
               for item in raw['value'])
    again = graph.run(graph.client.security.incidents.by_incident_id(incident['id']).get())
    assert [comment.comment for comment in again.comments][-1] == text
    assert again.comments[-1].created_date_time == comments[-1].created_date_time


def filter_cases():
    """(property, SDK enum member) for every member a $filter may name (the sentinel aside)."""
    enums = {'determination': AlertDetermination, 'classification': AlertClassification, 'severity': AlertSeverity,
             'status': IncidentStatus}
    return [pytest.param(name, member, id='%s-%s' % (name, member.value))
            for name, enum in enums.items() for member in enum if member.value != SENTINEL]


@pytest.mark.parametrize('name, member', filter_cases())
def test_filter_on_enum_member(graph, store, name, member):
    """$filter=<property> eq '<member>' for every member of the SDK's enum: Graph accepts each (a non-member is a
    400), and the answer is exactly the incidents that hold it."""
    query = list_query(filter="%s eq '%s'" % (name, member.value), count=True, top=50)
    page = graph.run(graph.client.security.incidents.get(query))
    expected = [incident['id'] for incident in store() if incident[name] == member.value]
    assert page.odata_count == len(expected)
    assert [incident.id for incident in page.value] == expected[:50]
    assert all(getattr(incident, name) == member for incident in page.value)
