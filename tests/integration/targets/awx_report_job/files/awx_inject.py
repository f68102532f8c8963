# -*- coding: utf-8 -*-
# Copyright: (c) 2026, secops.m365_defender contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Inject a credential into an ansible-runner private data dir the way AWX does for a job.

    python awx_inject.py CREDENTIAL_TYPE_YAML PRIVATE_DATA_DIR < inputs.json

As AWX's CredentialType.inject_credential (awx/main/models/credential.py): the inputs the credential holds are the
template namespace; every file injector is rendered into a file of its own in <private data dir>/env/ (mkstemp,
mode 0600) whose path is tower.filename.<name>; then every env injector is rendered, in a sandboxed Jinja2
environment. The variables are merged into env/envvars, which ansible-runner passes to the job. Nothing is printed.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import stat
import sys
import tempfile

import yaml
from jinja2.sandbox import ImmutableSandboxedEnvironment


class Namespace(object):
    """AWX's TowerNamespace: tower.filename, or tower.filename.<name> for several files."""


def inject(credential_type, inputs, private_data_dir):
    sandbox = ImmutableSandboxedEnvironment()
    tower = Namespace()
    namespace = dict(inputs, tower=tower)
    env_dir = os.path.join(private_data_dir, 'env')
    for label, template in credential_type['injectors'].get('file', {}).items():
        handle, path = tempfile.mkstemp(dir=env_dir)
        with os.fdopen(handle, 'w', encoding='utf-8') as stream:
            stream.write(sandbox.from_string(template).render(**namespace))
        os.chmod(path, stat.S_IRUSR | stat.S_IWUSR)
        if '.' in label:
            if not hasattr(tower, 'filename'):
                tower.filename = Namespace()
            setattr(tower.filename, label.split('.', 1)[1], path)
        else:
            tower.filename = path
    return dict((name, sandbox.from_string(template).render(**namespace))
                for name, template in credential_type['injectors'].get('env', {}).items())


def main():
    credential_type_path, private_data_dir = sys.argv[1:3]
    with open(credential_type_path, encoding='utf-8') as stream:
        credential_type = yaml.safe_load(stream)
    env = inject(credential_type, json.load(sys.stdin), private_data_dir)
    envvars = os.path.join(private_data_dir, 'env', 'envvars')
    if os.path.exists(envvars):
        with open(envvars, encoding='utf-8') as stream:
            env = dict(yaml.safe_load(stream) or {}, **env)
    with open(envvars, 'w', encoding='utf-8') as stream:
        json.dump(env, stream, indent=2, sort_keys=True)
    os.chmod(envvars, stat.S_IRUSR | stat.S_IWUSR)


if __name__ == '__main__':
    main()
