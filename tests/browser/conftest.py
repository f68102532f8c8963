"""Fixtures of the browser tests: the incident report of a sandbox run, made as `make demo` makes it, what the
sandbox itself says (sandbox.json and its admin API), and the report's page in headless Chromium; and the demo's
second step, the device_containment playbook on what the report found, with the sandbox's devices after it.

`python3 tests/run/suite.py test --only browser` installs Chromium and runs these tests in noxfile.py's session browser;
by hand: `.venv/nox/bin/nox -s browser` (M365D_CORE=oldest|newest: whose ansible-playbook, default newest).
"""
from __future__ import annotations

import json
import os
import ssl
import sys
import types
import urllib.request

import pytest
from playwright.sync_api import sync_playwright

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), 'run'))
# the harness's modules (standard library only): its Sandbox, venvs and the demo's inventory, vars and playbook run
# pylint: disable=wrong-import-position
from demo import demo_containment_vars, demo_inventory, run_demo_containment, run_demo_report  # noqa: E402
from environments import Venv  # noqa: E402
from paths import BROWSER_SCREENSHOT, BUILD, LOGS  # noqa: E402
from processes import fresh_dir, tail  # noqa: E402
from sandbox_process import Sandbox, named  # noqa: E402
from system_packages import CHROMIUM  # noqa: E402

WORK = os.path.join(BUILD, 'browser')
# As measured on these machines: without the background-networking flags Chromium keeps trying hosts that the
# closed network refuses. The --user-data-dir is a fresh directory (the profile below, passed by Playwright).
CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
                 '--disable-background-networking', '--disable-component-update', '--disable-sync']


def admin_get(info, path):
    """GET from the sandbox's admin API (trusting its CA, never through a proxy)."""
    https = urllib.request.HTTPSHandler(context=ssl.create_default_context(cafile=info['ca_path']))
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}), https)
    with opener.open(info['admin_url'] + path, timeout=60) as response:
        return json.load(response)


def sandbox_truth(info):
    """Per inventory host: its tenant id, whether the demo's app may read it (consented there), and the incidents
    the sandbox holds for it — read from the sandbox, not from the report."""
    consented = named(info['apps'], 'soc-responder')['permissions']
    tenants = {}
    for host, hostvars in demo_inventory(info)['all']['hosts'].items():
        tenant_id = hostvars['m365d_tenant_id']
        incidents = admin_get(info, '/tenants/%s/incidents' % tenant_id)['value']
        tenants[host] = {'id': tenant_id, 'read': tenant_id in consented, 'incidents': incidents}
    return tenants


def containment_truth(info, demo_vars):
    """What the containment step should have done and did, from the sandbox: the Contoso devices with their
    isolation state and actions, and the incidents it was given with their comments."""
    tenant_id = named(info['tenants'], 'Contoso')['id']
    machines = admin_get(info, '/tenants/%s/machines' % tenant_id)['value']
    incidents = [incident for incident in admin_get(info, '/tenants/%s/incidents' % tenant_id)['value']
                 if str(incident['id']) in demo_vars['m365d_incident_ids']]
    return types.SimpleNamespace(vars=demo_vars, machines=machines, incidents=incidents)


@pytest.fixture(scope='session')
def run():
    """Start a sandbox, run the incident_report playbook over the demo's tenants, read the truth, run the
    containment step, read what it left, stop the sandbox."""
    if os.path.exists(BROWSER_SCREENSHOT):
        os.remove(BROWSER_SCREENSHOT)
    venv = Venv.named(os.environ.get('M365D_CORE', 'newest')).ensure()
    output = os.path.join(WORK, 'output')
    fresh_dir(output)
    log = os.path.join(LOGS, 'browser-playbook.log')
    with Sandbox(venv.python, os.path.join(WORK, 'sandbox'), os.path.join(LOGS, 'browser-sandbox.log')) as info:
        code = run_demo_report(venv, info, WORK, output, log)
        tenants = sandbox_truth(info)
        app = named(info['apps'], 'soc-responder')
        html = os.path.join(output, 'incident-report.html')
        if not os.path.exists(html):
            pytest.fail('the playbook wrote no %s (exit code %d):\n%s' % (html, code, tail(log, 40)))
        containment_log = os.path.join(LOGS, 'browser-containment.log')
        containment_code = run_demo_containment(venv, info, WORK, output, containment_log)
        containment = containment_truth(info, demo_containment_vars(os.path.join(output, 'incident-report.json')))
    containment.code, containment.log = containment_code, containment_log
    return types.SimpleNamespace(code=code, log=log, html=html, tenants=tenants, base_url=info['base_url'],
                                 client_id=app['client_id'], containment=containment)


@pytest.fixture(scope='session')
def browser(run):
    """The report's page in headless Chromium, with what it logged, asked and fetched; its full-page screenshot is
    saved as soon as it has loaded, so that it is there whatever the tests find."""
    profile = os.path.join(WORK, 'profile')
    fresh_dir(profile)
    os.makedirs(os.path.dirname(BROWSER_SCREENSHOT), exist_ok=True)
    seen = types.SimpleNamespace(url='file://' + run.html, console=[], requests=[], dialogs=[])

    def on_dialog(dialog):
        seen.dialogs.append(dialog.message)
        dialog.dismiss()

    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            profile, executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS,
            viewport={'width': 1280, 'height': 900})
        try:
            context.on('request', lambda request: seen.requests.append(request.url))
            page = context.pages[0] if context.pages else context.new_page()
            page.on('console', lambda message: seen.console.append('%s: %s' % (message.type, message.text)))
            page.on('pageerror', lambda error: seen.console.append('pageerror: %s' % error))
            page.on('dialog', on_dialog)
            page.goto(seen.url, wait_until='load')
            page.screenshot(path=BROWSER_SCREENSHOT, full_page=True)
            seen.page = page
            yield seen
        finally:
            context.close()
