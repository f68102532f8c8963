"""The event sources secops.m365_defender.incidents and alerts in the real ansible-rulebook, against the sandbox while
its admin API creates and updates incidents and alerts: every change fires exactly once, a restart with the state file
loses and repeats nothing, a burst of 429s delays events without losing them, a revoked consent stops the source."""
from __future__ import annotations

import json
import os
import time

import pytest

import harness
from sandbox_process import named  # tests/run/, on sys.path since harness

SETTLE = 3.0  # seconds (three polls at interval 1) in which no further event may come
GRAPH_INCIDENTS = 'GET /v1.0/security/incidents'


def watch_vars(sandbox, tenants=('Contoso',), app='soc-responder', **given):
    """The rulebooks' variables: the app's credentials, the tenants (comma-separated ids), a one-second poll."""
    found = harness.credentials(sandbox, app=app)
    ids = [named(sandbox['tenants'], name)['id'] for name in tenants]
    values = {'tenants': ','.join(ids), 'client_id': found['client_id'], 'client_secret': found['client_secret'],
              'base_url': found['base_url'], 'ca_path': found['ca_path'], 'interval': 1, 'overlap': 60,
              'start': 'latest', 'state_file': '', 'retries': 3, 'max_backoff': 4}
    values.update(given)
    return values


def tenant_id(sandbox, name='Contoso'):
    return named(sandbox['tenants'], name)['id']


def polls(sandbox):
    return harness.admin(sandbox, 'GET', '/counters')['routes'].get(GRAPH_INCIDENTS, 0)


def wait_for_polls(sandbox, count=1, route=GRAPH_INCIDENTS, timeout=60):
    """Wait until the source has listed `count` more times (so that it has started, and its floor lies behind us)."""
    start = harness.admin(sandbox, 'GET', '/counters')['routes'].get(route, 0)
    deadline = time.monotonic() + timeout
    while harness.admin(sandbox, 'GET', '/counters')['routes'].get(route, 0) < start + count:
        assert time.monotonic() < deadline, 'the source did not list %s within %d s' % (route, timeout)
        time.sleep(0.2)


def create(sandbox, tenant='Contoso', count=1, **fields):
    return harness.admin(sandbox, 'POST', '/tenants/%s/incidents/new' % tenant_id(sandbox, tenant),
                         dict(fields, count=count))['created']


def touch(sandbox, incident, tenant='Contoso', **fields):
    return harness.admin(sandbox, 'POST', '/tenants/%s/incidents/%s/touch' % (tenant_id(sandbox, tenant), incident),
                         fields)


def an_old_incident(sandbox, tenant='Contoso'):
    return harness.admin(sandbox, 'GET', '/tenants/%s/incidents' % tenant_id(sandbox, tenant))['value'][-1]['id']


def changes(events):
    return [(event['m365d']['tenant_id'], event['m365d']['kind'], str(event['m365d']['id']), event['m365d']['change'],
             event['m365d']['last_update']) for event in events]


def settled(run, count):
    """The events once `count` have come and SETTLE seconds passed without another."""
    run.wait_for_events(count, timeout=60)
    time.sleep(SETTLE)
    return run.events()


def test_every_change_of_every_tenant_fires_once(sandbox, rulebook):
    run = rulebook('incidents.yml', watch_vars(sandbox, tenants=('Contoso', 'Fabrikam')))
    wait_for_polls(sandbox, 2)
    new = create(sandbox, count=2, severity='high') + create(sandbox, tenant='Fabrikam')
    first = settled(run, 3)
    old = an_old_incident(sandbox)
    touched = [touch(sandbox, new[0]['id'], status='inProgress'), touch(sandbox, old, comment='seen by EDA')]
    events = settled(run, 5)
    contoso, fabrikam = tenant_id(sandbox), tenant_id(sandbox, 'Fabrikam')
    assert sorted(changes(first)) == sorted(
        [(contoso, 'incident', item['id'], 'created', item['lastUpdateDateTime']) for item in new[:2]]
        + [(fabrikam, 'incident', new[2]['id'], 'created', new[2]['lastUpdateDateTime'])]), run.report()
    assert changes(events)[3:] == [(contoso, 'incident', item['id'], 'updated', item['lastUpdateDateTime'])
                                   for item in touched], run.report()
    incident = events[0]['m365d']['incident']
    severities = ('high', 'informational', 'low', 'medium', 'unknown')
    assert incident['id'] == events[0]['m365d']['id'] and incident['severity'] in severities
    assert all(event['meta']['source']['name'] == 'incidents' for event in events)


def test_a_restart_with_the_state_file_loses_and_repeats_nothing(sandbox, rulebook):
    state_file = os.path.join(harness.WORK, 'restart-state.json')
    if os.path.exists(state_file):
        os.remove(state_file)
    variables = watch_vars(sandbox, state_file=state_file)
    first = rulebook('incidents.yml', variables, name='restart-1')
    wait_for_polls(sandbox)
    before = create(sandbox)
    assert [change[2] for change in changes(settled(first, 1))] == [before[0]['id']], first.report()
    first.stop()
    assert oct(os.stat(state_file).st_mode & 0o777) == oct(0o600)
    saved = json.load(open(state_file))
    assert saved['kind'] == 'incident' and saved['tenants'][tenant_id(sandbox)]['watermark']

    while_stopped = create(sandbox, count=2) + [touch(sandbox, before[0]['id'], status='inProgress')]
    second = rulebook('incidents.yml', variables, name='restart-2')
    expected = [(item['id'], item['lastUpdateDateTime']) for item in while_stopped]
    got = [(change[2], change[4]) for change in changes(settled(second, 3))]
    assert sorted(got) == sorted(expected), second.report()
    assert [change[3] for change in changes(second.events())] == ['created', 'created', 'updated']


def test_a_burst_of_429s_delays_the_events_without_losing_any(sandbox, rulebook):
    run = rulebook('incidents.yml', watch_vars(sandbox, retries=1))
    wait_for_polls(sandbox)
    harness.admin(sandbox, 'POST', '/faults', {'method': 'GET', 'path': r'^/v1\.0/security/incidents$',
                                               'status': 429, 'retry_after': 1, 'count': 5})
    served = harness.admin(sandbox, 'GET', '/counters')['faults_served']
    new = create(sandbox, count=3)
    events = settled(run, 3)
    assert sorted(change[2] for change in changes(events)) == sorted(item['id'] for item in new), run.report()
    assert harness.admin(sandbox, 'GET', '/counters')['faults_served'] - served == 5
    assert 'trying again in' in run.stdout() + run.stderr(), 'the back-off is logged'


def test_the_alerts_source_fires_for_new_alerts_and_their_updates(sandbox, rulebook):
    run = rulebook('alerts.yml', watch_vars(sandbox))
    wait_for_polls(sandbox, route='GET /v1.0/security/alerts_v2')
    new = create(sandbox)
    alert_ids = new[0]['alert_ids']
    events = settled(run, len(alert_ids))
    assert sorted(change[2] for change in changes(events)) == sorted(alert_ids), run.report()
    assert {change[1:4:2] for change in changes(events)} == {('alert', 'created')}
    assert all(event['m365d']['alert']['incidentId'] == new[0]['id'] for event in events)
    touched = harness.admin(sandbox, 'POST', '/tenants/%s/alerts/%s/touch' % (tenant_id(sandbox), alert_ids[0]),
                            {'status': 'inProgress'})
    events = settled(run, len(alert_ids) + 1)
    assert changes(events)[len(alert_ids):] == [
        (tenant_id(sandbox), 'alert', alert_ids[0], 'updated', touched['lastUpdateDateTime'])], run.report()


def test_with_feedback_every_event_is_acknowledged_and_none_is_lost(sandbox, rulebook):
    run = rulebook('incidents_feedback.yml', watch_vars(sandbox), args=('--persistence-id', 'm365d-eda-test'))
    wait_for_polls(sandbox)
    new = create(sandbox, count=3)
    events = settled(run, 3)
    assert sorted(change[2] for change in changes(events)) == sorted(item['id'] for item in new), run.report()
    assert all(event['meta']['source']['name'] == 'incidents_acknowledged' for event in events)


def test_a_revoked_consent_stops_the_source_naming_the_cause(sandbox, rulebook):
    reader = harness.credentials(sandbox, app='soc-reader')
    run = rulebook('incidents.yml', watch_vars(sandbox, app='soc-reader'))
    wait_for_polls(sandbox)
    revoke = '/tenants/%s/apps/%s/%s' % (tenant_id(sandbox), reader['client_id'], '%s')
    harness.admin(sandbox, 'POST', revoke % 'revoke')
    try:
        code = run.wait(timeout=60)
    finally:
        harness.admin(sandbox, 'POST', revoke % 'restore')
    output = run.stdout() + run.stderr()
    assert 'secops.m365_defender.incidents stopped' in output, run.report()
    assert 'AADSTS700016' in output, run.report()
    assert code != 0 or 'Shutting down' in output, run.report()


@pytest.mark.parametrize('given, message', [
    ({'interval': 0}, "Argument 'interval' must be 1 or more seconds, got 0"),
    ({'start': 'yesterday'}, "'start' got 'yesterday'"),
])
def test_bad_arguments_stop_the_source_before_any_request(sandbox, rulebook, given, message):
    before = polls(sandbox)
    run = rulebook('incidents.yml', watch_vars(sandbox, **given))
    run.wait(timeout=60)
    assert message in run.stdout() + run.stderr(), run.report()
    assert polls(sandbox) == before
