"""The collection's own rulebooks (extensions/eda/rulebooks/) in the real ansible-rulebook against the sandbox: a new
high-severity incident is triaged by the playbook the rule runs, and no other incident is; a new alert with device
evidence gets the responder's note, once. Judged by the sandbox's incidents and alerts, not by the rulebook's output."""
from __future__ import annotations

import os
import time

import harness
from paths import ROOT  # tests/run/, on sys.path since harness

SHIPPED = os.path.join(ROOT, 'extensions', 'eda', 'rulebooks')
TAG = 'eda-triaged'
RULES = [{'name': 'High severity goes to tier 2', 'match': {'severity': ['high']},
          'set': {'tags': [TAG], 'comment': 'Triaged by the EDA rulebook.'}}]


def settings(sandbox):
    """The rulebook's variables and the inventory host's: the same app, so that the playbooks sign in as the source."""
    given = harness.credentials(sandbox)
    connection = {'m365d_client_id': given['client_id'], 'm365d_client_secret': given['client_secret'],
                  'm365d_base_url': given['base_url'], 'm365d_ca_path': given['ca_path']}
    variables = dict(connection, m365d_tenant_id=given['tenant_id'], m365d_interval=1,
                     incident_triage_rules=RULES)
    inventory = harness.localhost_inventory()
    inventory['all']['hosts']['localhost'].update(connection)
    return given['tenant_id'], variables, inventory


def wait_for(predicate, what, run, timeout=120):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, '%s within %d s:\n%s' % (what, timeout, run.report())
        time.sleep(0.5)


def incidents(sandbox, tenant):
    return dict((str(item['id']), item) for item in harness.admin(sandbox, 'GET', '/tenants/%s/incidents' % tenant)['value'])


def polled(sandbox, route):
    return harness.admin(sandbox, 'GET', '/counters')['routes'].get(route, 0)


def wait_for_a_poll(sandbox, route, run):
    start = polled(sandbox, route)
    wait_for(lambda: polled(sandbox, route) > start, 'a first poll of %s' % route, run)


def test_a_new_high_severity_incident_is_triaged_and_no_other(sandbox, rulebook):
    tenant, variables, inventory = settings(sandbox)
    run = rulebook(os.path.join(SHIPPED, 'incident_triage.yml'), variables, inventory)
    wait_for_a_poll(sandbox, 'GET /v1.0/security/incidents', run)
    created = harness.admin(sandbox, 'POST', '/tenants/%s/incidents/new' % tenant, {'count': 1, 'severity': 'high'})
    quiet = harness.admin(sandbox, 'POST', '/tenants/%s/incidents/new' % tenant, {'count': 1, 'severity': 'low'})
    high, low = created['created'][0]['id'], quiet['created'][0]['id']
    wait_for(lambda: TAG in incidents(sandbox, tenant)[high]['customTags'], 'the high-severity incident tagged', run)
    time.sleep(3)
    now = incidents(sandbox, tenant)
    assert [comment['comment'] for comment in now[high]['comments']] == ['Triaged by the EDA rulebook.']
    assert TAG not in now[low]['customTags'] and now[low]['comments'] == []
    assert [incident_id for incident_id, item in now.items() if TAG in item['customTags']] == [high], run.report()


def test_a_new_alert_with_device_evidence_gets_the_responders_note_once(sandbox, rulebook):
    tenant, variables, inventory = settings(sandbox)
    run = rulebook(os.path.join(SHIPPED, 'alert_responder_note.yml'), variables, inventory)
    wait_for_a_poll(sandbox, 'GET /v1.0/security/alerts_v2', run)
    for attempt in range(10):  # an incident whose alerts name a device (most of the scenario's endpoint incidents do)
        created = harness.admin(sandbox, 'POST', '/tenants/%s/incidents/new' % tenant, {'count': 1})['created'][0]
        incident = incidents(sandbox, tenant)[created['id']]
        with_devices = [alert['id'] for alert in incident['alerts']
                        if any(evidence.get('deviceDnsName') for evidence in alert.get('evidence') or ())]
        if with_devices:
            break
    assert with_devices, 'ten new incidents and no alert with a device'
    without = [alert['id'] for alert in incident['alerts'] if alert['id'] not in with_devices]

    def notes():
        alerts = dict((alert['id'], alert) for alert in incidents(sandbox, tenant)[created['id']]['alerts'])
        return dict((alert_id, [comment['comment'] for comment in alerts[alert_id].get('comments') or ()])
                    for alert_id in alerts)

    wait_for(lambda: all(notes()[alert_id] for alert_id in with_devices), 'a note on every alert with a device', run)
    time.sleep(3)
    final = notes()
    for alert_id in with_devices:
        assert len(final[alert_id]) == 1, final
        device = next(evidence for evidence in next(alert for alert in incident['alerts'] if alert['id'] == alert_id)
                      ['evidence'] if evidence.get('deviceDnsName'))
        assert device['deviceDnsName'] in final[alert_id][0]
    assert all(final[alert_id] == [] for alert_id in without), final
