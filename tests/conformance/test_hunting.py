"""Advanced hunting through the SDK: security.microsoft_graph_security_run_hunting_query posts to the
namespace-qualified action path, with the documented Timespan forms, and the answer reads into HuntingQueryResults."""
from __future__ import annotations

import datetime

import pytest
from msgraph.generated.models.o_data_errors.o_data_error import ODataError
from msgraph.generated.security.microsoft_graph_security_run_hunting_query.run_hunting_query_post_request_body import (
    RunHuntingQueryPostRequestBody,
)

import sdkcheck

ACTION_PATH = '/v1.0/security/microsoft.graph.security.runHuntingQuery'


def hunt(graph, query, timespan=None):
    """Run a query with the SDK; the parsed answer."""
    body = RunHuntingQueryPostRequestBody(query=query, timespan=timespan)
    return graph.run(graph.client.security.microsoft_graph_security_run_hunting_query.post(body))


def count(graph, query, timespan=None):
    """The single number of a `| count` query."""
    answer = hunt(graph, query + ' | count', timespan)
    assert [column.name for column in answer.schema] == ['Count']
    return answer.results[0].additional_data['Count']


def iso(moment):
    return moment.strftime('%Y-%m-%dT%H:%M:%SZ')


def test_query_reads_an_alert(graph, store):
    """The SDK's call reaches the action path and its answer reads into the SDK's models: the schema as projected,
    one row with the alert's id and title as the sandbox holds them."""
    alert = store()[0]['alerts'][0]
    answer = hunt(graph, "AlertInfo | where AlertId == '%s' | project AlertId, Title" % alert['id'])
    exchange = graph.last('POST')
    assert exchange.url.endswith(ACTION_PATH)
    assert exchange.sent == {'query': "AlertInfo | where AlertId == '%s' | project AlertId, Title" % alert['id']}
    assert [(column.name, column.type) for column in answer.schema] == [('AlertId', 'String'), ('Title', 'String')]
    assert [row.additional_data for row in answer.results] == [{'AlertId': alert['id'], 'Title': alert['title']}]
    assert not sdkcheck.lost_values(answer, exchange.received, 'hunting answer')
    assert not sdkcheck.unknown_properties(answer, exchange.received)


def test_error_is_an_odata_error(graph):
    """A query that does not parse: 400 with Graph's error body, which the SDK reads into ODataError."""
    with pytest.raises(ODataError) as raised:
        hunt(graph, 'AlertInfo | whre Title == 1')
    assert raised.value.response_status_code == 400
    assert raised.value.error.code == 'BadRequest'
    assert 'whre' in raised.value.error.message


@pytest.mark.parametrize('timespan', ['P7D', 'PT12H', 'P1M', 'P1W', 'start', 'start/end', 'start/P2D', 'P2D/end'])
def test_timespan_forms(graph, timespan):
    """Each documented Timespan form is accepted: a duration back from now, a start time, or an interval. A start
    time alone means from then until now, so it counts what the interval from then to now counts."""
    now = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
    start, end = now - datetime.timedelta(days=3), now + datetime.timedelta(minutes=5)
    value = timespan.replace('start', iso(start)).replace('end', iso(end))
    rows = count(graph, 'AlertInfo', value)
    assert isinstance(rows, int) and rows >= 0
    if timespan == 'start':
        assert rows == count(graph, 'AlertInfo', '%s/%s' % (iso(start), iso(end)))


def test_timespans_nest(graph):
    """Longer spans count at least as many rows; P1W is P7D; the sandbox's rows lie within the last month."""
    week = count(graph, 'AlertInfo', 'P7D')
    assert week == count(graph, 'AlertInfo', 'P1W')
    assert count(graph, 'AlertInfo', 'PT12H') <= week <= count(graph, 'AlertInfo', 'P1M')
    assert count(graph, 'AlertInfo', 'P1M') == count(graph, 'AlertInfo') > 0
