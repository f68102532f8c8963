"""The demo's playbooks against a running sandbox: the incident report over three tenants, then the containment
of what it found in one (`make demo`, and the browser tests' report).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import subprocess

from environments import collection_link
from processes import SetupError, write_vars
from sandbox_process import named


DEMO_TENANTS = ('Contoso', 'Fabrikam', 'Northwind')  # soc-responder has no consent in Northwind


def demo_inventory(info):
    """The demo's inventory: the scenario's three tenants as hosts, as a partner's inventory lists customers."""
    hosts = dict((name.lower(), {'m365d_tenant_id': named(info.get('tenants'), name)['id']}) for name in DEMO_TENANTS)
    return {'all': {'hosts': hosts}}


def demo_vars(info, output_dir):
    """The demo's extra vars: the sandbox's endpoints and the multi-tenant app soc-responder with its valid secret."""
    app = named(info.get('apps'), 'soc-responder')
    secret = next((item['value'] for item in app.get('secrets') or () if not item.get('expired')), None)
    if not secret:
        raise SetupError('sandbox.json has no valid secret for soc-responder')
    return {
        'm365d_base_url': info['base_url'],
        'm365d_ca_path': info['ca_path'],
        'm365d_client_id': app['client_id'],
        'm365d_client_secret': secret,
        'incident_report_dir': output_dir,
    }


def run_demo_report(venv, info, workdir, output_dir, log=None):
    """Run the incident_report playbook (by its FQCN) over the demo's tenants; return ansible-playbook's code."""
    return run_demo_playbook(venv, info, workdir, 'incident_report', demo_vars(info, output_dir), log)


# The demo's second step: contain what the report found in one tenant, as a responder would after reading it.
DEMO_CONTAINMENT_TENANT = 'contoso'
DEMO_NEVER_ISOLATE_TAG = 'VIP'
DEMO_SERVER_PREFIXES = ('dc-', 'srv-')  # the scenario's domain controllers and application servers
DEMO_SEVERITY_ORDER = ('high', 'medium', 'low', 'informational', 'unknown')
DEMO_MAX_DEVICES = 5  # the role's default cap


def demo_containment_vars(report_json):
    """The containment step's variables, from the report's JSON: the open incidents of the demo's tenant that name
    devices, most severe and newest first, as many (at most two) as fit under the role's cap; servers and devices
    tagged VIP are never isolated, and the step does not wait for the isolations (the demo's sandbox runs in real
    time, where an isolation takes three minutes)."""
    with open(report_json, encoding='utf-8') as handle:
        report = json.load(handle)
    candidates = [incident for incident in report['incidents']
                  if incident['tenant'] == DEMO_CONTAINMENT_TENANT and incident['open'] and incident['devices']]
    candidates.sort(key=lambda incident: incident['created'], reverse=True)
    candidates.sort(key=lambda incident: DEMO_SEVERITY_ORDER.index(incident['severity']))
    picked, devices = [], set()
    for incident in candidates:
        if len(picked) == 2 or len(devices | set(incident['devices'])) > DEMO_MAX_DEVICES:
            break
        picked.append(incident)
        devices |= set(incident['devices'])
    servers = sorted(name for name in devices if name.startswith(DEMO_SERVER_PREFIXES))
    return {'m365d_hosts': DEMO_CONTAINMENT_TENANT, 'm365d_incident_ids': [incident['id'] for incident in picked],
            'device_containment_never_isolate': [DEMO_NEVER_ISOLATE_TAG] + servers,
            'device_containment_wait': False}


def run_demo_containment(venv, info, workdir, output_dir, log=None):
    """Run the device_containment playbook on the incidents the report's JSON points at; return its exit code."""
    extra = demo_containment_vars(os.path.join(output_dir, 'incident-report.json'))
    extra.update(demo_vars(info, output_dir))
    return run_demo_playbook(venv, info, workdir, 'device_containment', extra, log)


def run_demo_playbook(venv, info, workdir, playbook, extra_vars, log=None):
    """Run one of the collection's playbooks (by its FQCN) over the demo's tenants with the variables given (written
    to a private file: they hold a secret); return ansible-playbook's code."""
    vars_file = os.path.join(workdir, '%s_vars.yml' % playbook)
    inventory = os.path.join(workdir, 'tenants.yml')
    write_vars(vars_file, extra_vars)
    write_vars(inventory, demo_inventory(info))
    env = venv.env(ANSIBLE_COLLECTIONS_PATH=collection_link(), ANSIBLE_INVENTORY_UNPARSED_WARNING='false')
    command = [venv.bin('ansible-playbook'), '-i', inventory, 'secops.m365_defender.' + playbook,
               '-e', '@' + vars_file]
    output = open(log, 'a' if log else 'w', encoding='utf-8') if log else None
    try:
        return subprocess.run(command, cwd=workdir, env=env, stdin=subprocess.DEVNULL, stdout=output,
                              stderr=subprocess.STDOUT if output else None, check=False).returncode
    finally:
        if output:
            output.close()
