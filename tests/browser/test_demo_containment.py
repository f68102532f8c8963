"""The demo's second step: the device_containment playbook on the incidents the report points at, judged by the
sandbox's devices and incidents afterwards (not by the playbook's own summary)."""
from __future__ import annotations

from demo import DEMO_NEVER_ISOLATE_TAG  # tests/run/, on sys.path since conftest
from processes import tail


def evidence_devices(incidents, machines):
    """Device id -> DNS name, for every device of the incidents' alert evidence that Defender for Endpoint knows:
    by its id, else by its DNS name (as the role finds them)."""
    by_name = {machine['machine']['computerDnsName']: machine['machine']['id'] for machine in machines.values()}
    devices = {}
    for incident in incidents:
        for alert in incident.get('alerts') or ():
            for evidence in alert.get('evidence') or ():
                if not evidence.get('@odata.type', '').endswith('deviceEvidence'):
                    continue
                device_id = evidence.get('mdeDeviceId') or by_name.get(evidence.get('deviceDnsName'))
                if device_id:
                    devices[device_id] = evidence.get('deviceDnsName') or ''
    return devices


def isolations(machine):
    return [action for action in machine['actions'] if action['type'] == 'Isolate']


def test_the_playbook_succeeded_on_picked_incidents(run):
    containment = run.containment
    assert containment.code == 0, tail(containment.log, 40)
    assert 1 <= len(containment.vars['m365d_incident_ids']) <= 2
    assert len(containment.incidents) == len(containment.vars['m365d_incident_ids'])


def test_each_device_of_the_incidents_isolated_once_unless_never_to_isolate(run):
    containment = run.containment
    machines = {machine['machine']['id']: machine for machine in containment.machines}
    named = evidence_devices(containment.incidents, machines)
    never = set(containment.vars['device_containment_never_isolate'])
    assert named, 'the picked incidents name no device'
    protected = 0
    for device_id, dns_name in named.items():
        machine = machines[device_id]
        if dns_name in never or DEMO_NEVER_ISOLATE_TAG in (machine['machine'].get('machineTags') or ()):
            protected += 1
            assert isolations(machine) == [], '%s must not be isolated' % dns_name
        else:
            assert len(isolations(machine)) == 1, '%s must be isolated once: %s' % (dns_name, machine['actions'])
            assert isolations(machine)[0]['requestor'], 'the action names who asked for it'
    assert protected < len(named), 'every device of the picked incidents was protected: nothing shows the isolation'
    others = [machine for device_id, machine in machines.items() if device_id not in named]
    assert all(isolations(machine) == [] for machine in others), 'a device outside the incidents was isolated'


def test_each_incident_records_its_isolated_devices(run):
    containment = run.containment
    machines = {machine['machine']['id']: machine for machine in containment.machines}
    for incident in containment.incidents:
        isolated = [device_id for device_id in evidence_devices([incident], machines) if isolations(machines[device_id])]
        comments = [comment['comment'] for comment in incident.get('comments') or ()
                    if comment['comment'].startswith('Isolated by secops.m365_defender.device_containment')]
        if not isolated:
            assert comments == []
            continue
        assert len(comments) == 1, incident['comments']
        for device_id in isolated:
            assert device_id in comments[0]
            assert isolations(machines[device_id])[0]['id'] in comments[0]
