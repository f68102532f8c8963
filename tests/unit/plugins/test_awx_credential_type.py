# -*- coding: utf-8 -*-
# Copyright: (c) 2026, secops.m365_defender contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The AWX credential type in extensions/awx/: its inputs, its injectors, and the environment a job gets.

The injectors are rendered the way AWX does it (awx/main/models/credential.py, CredentialType.inject_credential):
file injectors first, each written to a file of its own whose path is tower.filename.<name>, then every env
injector, in a sandboxed Jinja2 environment with only the inputs the credential holds. That rendering is
tests/integration/targets/awx_report_job/files/awx_inject.py, which the awx_report_job target uses to run a job
with the credential through ansible-runner. AWX validates a credential type by rendering every injector with
StrictUndefined and every input set to 'EXAMPLE'; that is done here too.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import importlib.util
import os
import re
import stat

import pytest
import yaml
from jinja2 import StrictUndefined, meta
from jinja2.sandbox import ImmutableSandboxedEnvironment

from ansible_collections.secops.m365_defender.plugins.module_utils._clouds import API_CHOICES, CLOUD_CHOICES
from ansible_collections.secops.m365_defender.tests.unit.plugins.constants import CLIENT, TENANT_ID

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
CREDENTIAL_TYPE = os.path.join(ROOT, 'extensions', 'awx', 'credential_type_m365_defender.yml')
MODULE_UTILS = os.path.join(ROOT, 'plugins', 'module_utils', '_module.py')
AWX_INJECT = os.path.join(ROOT, 'tests', 'integration', 'targets', 'awx_report_job', 'files', 'awx_inject.py')

# What the credential type must inject: the shared options' environment variables (plugins/doc_fragments/auth.py).
EXPECTED_ENV = {
    'AZURE_TENANT_ID': 'tenant_id',
    'AZURE_CLIENT_ID': 'client_id',
    'AZURE_CLIENT_SECRET': 'client_secret',
    'AZURE_CLIENT_CERTIFICATE_PATH': 'client_certificate_path',
    'AZURE_CLIENT_CERTIFICATE_PASSWORD': 'client_certificate_password',
    'M365D_API': 'api',
    'M365D_CLOUD': 'cloud',
    'M365D_LOGIN_URL': 'login_url',
    'M365D_GRAPH_URL': 'graph_url',
    'M365D_DEFENDER_URL': 'defender_url',
    'M365D_REGION': 'region',
    'M365D_CA_PATH': 'ca_path',
}
SECRET_INPUTS = {'client_secret', 'client_certificate', 'client_certificate_password'}
# AWX refuses these in env injectors (awx/main/fields.py, validate_env_var_allowed and ENV_BLOCKLIST, in part).
AWX_BLOCKED = re.compile(r'^(ANSIBLE_|AWX_|TOWER_|JOB_|INVENTORY_|PROJECT_|PATH$|PYTHONPATH$|VIRTUAL_ENV$|HOME$)')

PEM = '-----BEGIN PRIVATE KEY-----\nMIIEv...\n-----END PRIVATE KEY-----\n-----BEGIN CERTIFICATE-----\nMIIC...\n-----END CERTIFICATE-----\n'


def _awx_inject():
    spec = importlib.util.spec_from_file_location('awx_inject', AWX_INJECT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


AWX = _awx_inject()
Namespace = AWX.Namespace


def load():
    with open(CREDENTIAL_TYPE, encoding='utf-8') as handle:
        return yaml.safe_load(handle)


def env_fallbacks():
    """{environment variable: option} from the `fallback=_env(...)` entries of the shared argument spec."""
    with open(MODULE_UTILS, encoding='utf-8') as handle:
        source = handle.read()
    found = {}
    for option, names in re.findall(r'^\s*(\w+)=dict\([^\n]*fallback=_env\(([^)]*)\)', source, re.M):
        for name in re.findall(r'"(\w+)"|\'(\w+)\'', names):
            found[name[0] or name[1]] = option
    return found


def templates(credential_type):
    """(kind, key, template) of every injector."""
    return [(kind, key, template) for kind, entries in credential_type['injectors'].items() for key, template in entries.items()]


def inject(credential_type, inputs, private_dir):
    """The environment a job gets from a credential holding ``inputs`` (only non-empty ones, as AWX does)."""
    os.makedirs(os.path.join(private_dir, 'env'))
    return AWX.inject(credential_type, dict((key, value) for key, value in inputs.items() if value), private_dir)


def module_values(env):
    """What the modules' options become from ``env``, as AnsibleModule's env_fallback and the code read them:
    a variable that is set wins even when empty, and an empty value counts as not given."""
    fallbacks = env_fallbacks()
    values = {}
    for name, value in env.items():
        values[fallbacks[name]] = value
    return values


@pytest.fixture(scope='module')
def credential_type():
    return load()


def test_shape(credential_type):
    assert set(credential_type) >= {'name', 'kind', 'inputs', 'injectors'}
    assert credential_type['kind'] == 'cloud'
    ids = [field['id'] for field in credential_type['inputs']['fields']]
    assert len(ids) == len(set(ids)), 'duplicate input ids'
    for field in credential_type['inputs']['fields']:
        assert set(field) <= {'id', 'type', 'label', 'help_text', 'secret', 'multiline', 'choices', 'default', 'format'}, field
        assert field['type'] in ('string', 'boolean')
        assert re.match(r'^[a-z_][a-z0-9_]*$', field['id'])
        if 'default' in field and 'choices' in field:
            assert field['default'] in field['choices']
    assert set(credential_type['inputs'].get('required', [])) <= set(ids)
    assert set(credential_type['injectors']) <= {'env', 'file', 'extra_vars'}


def test_secrets_are_secret(credential_type):
    fields = dict((field['id'], field) for field in credential_type['inputs']['fields'])
    assert SECRET_INPUTS <= set(fields)
    for name in SECRET_INPUTS:
        assert fields[name].get('secret') is True, name
    for name, field in fields.items():
        if re.search(r'secret|password|private|key', name):
            assert field.get('secret') is True, name
    assert fields['client_certificate'].get('multiline') is True
    assert fields['ca_bundle'].get('multiline') is True


def test_choices_match_the_collection(credential_type):
    fields = dict((field['id'], field) for field in credential_type['inputs']['fields'])
    assert tuple(fields['api']['choices']) == API_CHOICES
    assert tuple(fields['cloud']['choices']) == CLOUD_CHOICES


def test_injectors_reference_only_inputs(credential_type):
    ids = set(field['id'] for field in credential_type['inputs']['fields'])
    sandbox = ImmutableSandboxedEnvironment()
    used = set()
    for kind, key, template in templates(credential_type):
        names = meta.find_undeclared_variables(sandbox.parse(template))
        assert names - {'tower'} <= ids, '%s %s uses %s' % (kind, key, sorted(names - ids - {'tower'}))
        used |= names
    assert ids <= used, 'inputs that no injector uses: %s' % sorted(ids - used)


def test_awx_validation_render(credential_type):
    """What AWX does when the credential type is saved: every template renders with StrictUndefined."""
    file_labels = list(credential_type['injectors'].get('file', {}))
    assert all(label.startswith('template.') for label in file_labels), 'AWX wants template.<name> for several files'
    tower = Namespace()
    tower.filename = Namespace()
    for label in file_labels:
        setattr(tower.filename, label.split('.', 1)[1], '/runner/env/tmpXYZ')
    namespace = dict((field['id'], True if field['type'] == 'boolean' else 'EXAMPLE')
                     for field in credential_type['inputs']['fields'])
    namespace['tower'] = tower
    sandbox = ImmutableSandboxedEnvironment(undefined=StrictUndefined)
    for dummy_kind, dummy_key, template in templates(credential_type):
        sandbox.from_string(template).render(**namespace)


def test_env_is_what_the_collection_reads(credential_type):
    fallbacks = env_fallbacks()
    assert set(EXPECTED_ENV) <= set(fallbacks), 'the modules no longer read %s' % sorted(set(EXPECTED_ENV) - set(fallbacks))
    env = credential_type['injectors']['env']
    assert set(env) == set(EXPECTED_ENV)
    for name in env:
        assert name in fallbacks, '%s is not read by any module' % name
        assert fallbacks[name] == EXPECTED_ENV[name]
        assert not AWX_BLOCKED.match(name)


def test_job_env_with_client_secret(credential_type, tmp_path):
    env = inject(credential_type, {'tenant_id': TENANT_ID, 'client_id': CLIENT, 'client_secret': 's3cr3t~value'},
                 str(tmp_path))
    print('\n'.join('%s=%s' % (name, '********' if 'SECRET' in name or 'PASSWORD' in name else value) for name, value in sorted(env.items())))
    assert env['AZURE_TENANT_ID'] == TENANT_ID
    assert env['AZURE_CLIENT_ID'] == CLIENT
    assert env['AZURE_CLIENT_SECRET'] == 's3cr3t~value'
    # No certificate, no CA: the paths stay empty, so the modules see them as not given.
    assert env['AZURE_CLIENT_CERTIFICATE_PATH'] == ''
    assert env['M365D_CA_PATH'] == ''
    assert env['M365D_REGION'] == '', 'no region: the module option has no choices, so empty means none'
    # api and cloud have choices: an empty value would fail the modules' argument checks.
    values = module_values(env)
    assert values['api'] in API_CHOICES and values['api'] == 'graph'
    assert values['cloud'] in CLOUD_CHOICES and values['cloud'] == 'global'


def test_job_env_with_certificate(credential_type, tmp_path):
    inputs = {
        'client_id': CLIENT,
        'client_certificate': PEM,
        'client_certificate_password': 'pfx-pass',
        'api': 'defender',
        'cloud': 'gcc_high',
        'defender_url': 'https://api-gov.security.microsoft.us',
        'ca_bundle': '-----BEGIN CERTIFICATE-----\nMIIB...\n-----END CERTIFICATE-----\n',
    }
    env = inject(credential_type, inputs, str(tmp_path))
    print('\n'.join('%s=%s' % (name, '********' if 'SECRET' in name or 'PASSWORD' in name else value) for name, value in sorted(env.items())))
    path = env['AZURE_CLIENT_CERTIFICATE_PATH']
    assert path and os.path.isfile(path)
    with open(path, encoding='utf-8') as handle:
        assert handle.read() == PEM
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    with open(env['M365D_CA_PATH'], encoding='utf-8') as handle:
        assert handle.read() == inputs['ca_bundle']
    assert env['AZURE_CLIENT_CERTIFICATE_PASSWORD'] == 'pfx-pass'
    assert env['AZURE_CLIENT_SECRET'] == ''
    assert env['AZURE_TENANT_ID'] == ''  # the tenant comes from the inventory (one host per tenant)
    assert env['M365D_API'] == 'defender'
    assert env['M365D_CLOUD'] == 'gcc_high'
    assert env['M365D_DEFENDER_URL'] == inputs['defender_url']
    assert env['M365D_GRAPH_URL'] == ''
