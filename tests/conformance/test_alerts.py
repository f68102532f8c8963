"""Graph's alerts_v2 through the SDK: listing with nextLink, $filter, one alert, PATCH, comments through the SDK's
request builder, and every answer read back into the SDK's models without losing a value (sdkcheck.py).

What the sandbox holds comes from its admin API (the ``store`` fixture), never from the API under test.
"""
from __future__ import annotations

import pytest
from kiota_abstractions.base_request_configuration import RequestConfiguration
from msgraph.generated.models.o_data_errors.o_data_error import ODataError
from msgraph.generated.models.security.alert import Alert
from msgraph.generated.models.security.alert_classification import AlertClassification
from msgraph.generated.models.security.alert_comment import AlertComment
from msgraph.generated.models.security.alert_determination import AlertDetermination
from msgraph.generated.models.security.alert_evidence import AlertEvidence
from msgraph.generated.models.security.alert_status import AlertStatus
from msgraph.generated.models.security.cloud_application_evidence import CloudApplicationEvidence
from msgraph.generated.models.security.service_source import ServiceSource
from msgraph.generated.security.alerts_v2.alerts_v2_request_builder import Alerts_v2RequestBuilder

import graphsdk
import sdkcheck

SENTINEL = 'unknownFutureValue'


def list_query(**query):
    return RequestConfiguration(query_parameters=Alerts_v2RequestBuilder.Alerts_v2RequestBuilderGetQueryParameters(**query))


def held_alerts(store, tenant='Contoso'):
    """The tenant's alerts as the sandbox holds them (Graph shape), newest createdDateTime first (ids break ties)."""
    alerts = [alert for incident in store(tenant) for alert in incident['alerts']]
    return sorted(alerts, key=lambda alert: (alert['createdDateTime'], alert['id']), reverse=True)


def all_pages(graph, config=None):
    """Every alert of a listing; [(model, raw JSON)]."""
    return graphsdk.every_page(graph, graph.client.security.alerts_v2, config)


@pytest.fixture(scope='module')
def listed(graph):
    return all_pages(graph)


def test_list_follows_next_link_newest_first(graph, listed, store):
    first = graph.exchanges[0]
    assert len(first.received['value']) == 100 and '@odata.nextLink' in first.received
    assert [model.id for model, _raw in listed] == [alert['id'] for alert in held_alerts(store)]


def test_no_value_lost(listed):
    """Every value parses: enum members the SDK knows, time stamps, numbers, evidence of every type."""
    problems = []
    for model, raw in listed:
        problems.extend(sdkcheck.lost_values(model, raw, 'alert %s' % model.id))
    assert not problems, 'values the SDK could not read:\n' + sdkcheck.describe(problems)


def test_enums_parse_to_members(listed):
    seen = dict((name, set()) for name in ('status', 'severity', 'service_source', 'detection_source'))
    for model, _raw in listed:
        for name, values in seen.items():
            values.add(getattr(model, name))
    assert None not in set().union(*seen.values())
    assert all(len(values) >= 2 for values in seen.values()), seen


def test_every_property_known_and_evidence_typed(listed):
    walked = [item for model, raw in listed for item in sdkcheck.walk(model, raw, 'alert %s' % model.id)]
    unknown = sdkcheck.by_entity((entity, sdkcheck.unknown_properties(model, raw)) for entity, model, raw, _path in walked)
    assert not unknown, 'properties the SDK does not know, per entity: %s' % unknown
    assert not [path for entity, _model, _raw, path in walked if entity == AlertEvidence.__name__]
    # as test_incidents.py's test_no_property_missing: the alert, its comments and its evidence objects themselves
    missing = sdkcheck.by_entity((entity, sdkcheck.missing_properties(model, raw)) for entity, model, raw, _path in walked
                                 if entity in ('Alert', 'AlertComment') or isinstance(model, AlertEvidence))
    assert not missing, 'properties the sandbox leaves out, per entity: %s' % missing
    cloud = [evidence for model, _raw in listed for evidence in model.evidence if isinstance(evidence, CloudApplicationEvidence)]
    assert cloud and all(isinstance(item.app_id, int) and item.display_name for item in cloud)


@pytest.mark.parametrize('member', [member for member in AlertStatus if member.value != SENTINEL], ids=lambda m: m.value)
def test_filter_on_status(graph, store, member):
    read = all_pages(graph, list_query(filter="status eq '%s'" % member.value, top=1000, count=True))
    assert [model.id for model, _raw in read] == [alert['id'] for alert in held_alerts(store) if alert['status'] == member.value]
    assert all(model.status == member for model, _raw in read)


def test_filter_on_service_source(graph, store):
    wanted = ServiceSource.MicrosoftDefenderForOffice365
    page = graph.run(graph.client.security.alerts_v2.get(list_query(filter="serviceSource eq '%s'" % wanted.value,
                                                                    top=1000, count=True)))
    expected = [alert['id'] for alert in held_alerts(store) if alert['serviceSource'] == wanted.value]
    assert expected and page.odata_count == len(expected)
    assert [model.id for model in page.value] == expected


def test_get_one(graph, store):
    held = held_alerts(store)[3]
    model = graph.run(graph.client.security.alerts_v2.by_alert_id(held['id']).get())
    assert (model.id, model.title, model.incident_id) == (held['id'], held['title'], held['incidentId'])
    assert not sdkcheck.lost_values(model, graph.last().received, 'alert %s' % model.id)


def test_unknown_alert_is_an_odata_error(graph):
    with pytest.raises(ODataError) as raised:
        graph.run(graph.client.security.alerts_v2.by_alert_id('da0_0').get())
    assert raised.value.response_status_code == 404 and raised.value.error.code == 'NotFound'


def test_patch_round_trip(graph, store):
    target = next(alert for alert in held_alerts(store)[50:] if alert['status'] == 'new')
    sent = Alert(status=AlertStatus.Resolved, classification=AlertClassification.TruePositive,
                 determination=AlertDetermination.Phishing, assigned_to='secops.lead@contoso.example')
    item = graph.client.security.alerts_v2.by_alert_id(target['id'])
    answer = graph.run(item.patch(sent))
    assert graph.last('PATCH').sent == {'status': 'resolved', 'classification': 'truePositive', 'determination': 'phishing',
                                        'assignedTo': 'secops.lead@contoso.example'}
    assert not sdkcheck.lost_values(answer, graph.last('PATCH').received, 'PATCH answer')
    again = graph.run(item.get())
    wanted = (AlertStatus.Resolved, AlertClassification.TruePositive, AlertDetermination.Phishing, 'secops.lead@contoso.example')
    for model in (answer, again):
        assert (model.status, model.classification, model.determination, model.assigned_to) == wanted
        assert model.resolved_date_time == model.last_update_date_time
    held = next(alert for alert in held_alerts(store) if alert['id'] == target['id'])
    assert (held['status'], held['determination']) == ('resolved', 'phishing')


def test_patch_misfit_is_an_odata_error(graph, store):
    target = held_alerts(store)[70]
    sent = Alert(classification=AlertClassification.FalsePositive, determination=AlertDetermination.Malware)
    with pytest.raises(ODataError) as raised:
        graph.run(graph.client.security.alerts_v2.by_alert_id(target['id']).patch(sent))
    assert raised.value.response_status_code == 400 and 'does not fit' in raised.value.error.message


def test_comment_through_the_sdk_request_builder(graph, store, app):
    """The SDK's comments builder sends a JSON array of alertComment and reads the answer as a bare collection; the
    sandbox answers as Graph documents ({"value": [...]}), so the comments are read from the raw answer here."""
    target = held_alerts(store)[80]
    text = 'Conformance: alert reviewed with the Graph SDK.'
    builder = graph.client.security.alerts_v2.by_alert_id(target['id']).comments
    returned = graph.run(builder.post([AlertComment(comment=text)]))
    exchange = graph.last('POST')
    assert exchange.status == 200
    assert exchange.sent == [{'comment': text}]
    assert not returned  # send_collection_async finds no top-level array in the documented answer
    assert [comment['comment'] for comment in exchange.received['value']] == [text]
    again = graph.run(graph.client.security.alerts_v2.by_alert_id(target['id']).get())
    assert [(comment.comment, comment.created_by_display_name) for comment in again.comments] == [(text, app['name'])]
    assert not sdkcheck.lost_values(again, graph.last().received, 'alert with a comment')
