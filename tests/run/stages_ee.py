"""The ee stage: ansible-builder's introspect and create for the execution and decision environments, and the
collection as a Galaxy user gets it (the built tarball, installed).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import glob
import os
import re
import shutil
import time

from environments import collection_link
from paths import BUILD, LOGS, ROOT
from processes import run_logged


def requirement_names(path):
    """The project names in a pip requirements file, lower case."""
    with open(path, encoding='utf-8') as handle:
        lines = [line.split('#', 1)[0].strip() for line in handle]
    return sorted(re.match(r'[A-Za-z0-9._-]+', line).group(0).lower() for line in lines if line)


def stage_ee(results, venv):
    """ansible-builder, no container runtime: introspect reads the collection's meta/execution-environment.yml and
    must find requirements.txt's packages; create turns the execution environment (extensions/awx/) and the
    decision environment (extensions/eda/) into build contexts in .build/ee and .build/de."""
    log = os.path.join(LOGS, 'ee.log')
    with open(log, 'w', encoding='utf-8'):
        pass
    started = time.monotonic()
    builder = venv.bin('ansible-builder')
    deps = os.path.join(BUILD, 'ee-introspect.txt')
    if os.path.exists(deps):
        os.remove(deps)
    code = run_logged([builder, 'introspect', '--sanitize', '--write-pip', deps, collection_link()], log,
                      env=venv.env())
    wanted = requirement_names(os.path.join(ROOT, 'requirements.txt'))
    got = requirement_names(deps) if code == 0 and os.path.exists(deps) else []
    if code == 0 and got != wanted:
        with open(log, 'a', encoding='utf-8') as handle:
            handle.write('*** introspect found %s, requirements.txt has %s\n' % (got, wanted))
    ok = code == 0 and got == wanted
    results.add('ee-introspect', 1 if ok else 0, 0 if ok else 1, 0, time.monotonic() - started, log)
    for stage, definition, context, wanted in BUILDER_DEFINITIONS:
        builder_create(results, builder, venv, stage, definition, os.path.join(BUILD, context), wanted, log)
    check_tarball(results, venv, log)


# What a Galaxy user gets: the plugins ansible-doc must read from the installed tarball, and an inventory source
# whose only fault is an unknown option, which the inventory plugin itself must name (so it was loaded and ran).
TARBALL_DOCS = (('inventory', 'secops.m365_defender.machines'), ('module', 'secops.m365_defender.indicator'),
                ('module', 'secops.m365_defender.machine_action'), ('filter', 'secops.m365_defender.evidence'))
TARBALL_INVENTORY = 'plugin: secops.m365_defender.machines\ntenant_id: contoso.example\ncolour: red\n'
TARBALL_INVENTORY_ANSWER = 'secops.m365_defender.machines: unknown option(s) colour'


def check_tarball(results, venv, log):
    """ansible-galaxy collection build, install of the tarball into .build/tarball, then ansible-doc for
    TARBALL_DOCS and ansible-inventory on TARBALL_INVENTORY from there (not from this tree)."""
    started = time.monotonic()
    place = os.path.join(BUILD, 'tarball')
    shutil.rmtree(place, ignore_errors=True)
    dist, installed = os.path.join(place, 'dist'), os.path.join(place, 'collections')
    os.makedirs(dist)
    galaxy = venv.bin('ansible-galaxy')
    code = run_logged([galaxy, 'collection', 'build', '--output-path', dist, ROOT], log, env=venv.env())
    tarballs = glob.glob(os.path.join(dist, '*.tar.gz'))
    if code == 0 and len(tarballs) == 1:
        code = run_logged([galaxy, 'collection', 'install', '--offline', '--no-deps', '-p', installed, tarballs[0]],
                          log, env=venv.env())
    env = venv.env(ANSIBLE_COLLECTIONS_PATH=installed, ANSIBLE_INVENTORY_UNPARSED_FAILED='true')
    failures = [] if code == 0 and len(tarballs) == 1 else ['build and install']
    for kind, name in TARBALL_DOCS if not failures else ():
        if run_logged([venv.bin('ansible-doc'), '-t', kind, name], log, cwd=place, env=env) != 0:
            failures.append('ansible-doc -t %s %s' % (kind, name))
    if not failures:
        source = os.path.join(place, 'faulty.m365d_machines.yml')
        with open(source, 'w', encoding='utf-8') as handle:
            handle.write(TARBALL_INVENTORY)
        before = os.path.getsize(log)
        run_logged([venv.bin('ansible-inventory'), '-i', source, '--list'], log, cwd=place, env=env)
        with open(log, encoding='utf-8', errors='replace') as handle:
            handle.seek(before)
            if TARBALL_INVENTORY_ANSWER not in handle.read():
                failures.append('ansible-inventory naming the fault through the inventory plugin')
    if failures:
        with open(log, 'a', encoding='utf-8') as handle:
            handle.write('*** from the tarball, these failed: %s\n' % ', '.join(failures))
    results.add('tarball', 0 if failures else 1, 1 if failures else 0, 0, time.monotonic() - started, log)


# ansible-builder definitions turned into build contexts: (stage, definition, context below .build, {file in the
# context: text it must hold, '' for none}).
BUILDER_DEFINITIONS = (
    ('ee-create', os.path.join('extensions', 'awx', 'execution-environment.yml'), 'ee',
     {'Containerfile': '', os.path.join('_build', 'requirements.yml'): ''}),
    ('de-create', os.path.join('extensions', 'eda', 'decision-environment.yml'), 'de',
     {'Containerfile': '', os.path.join('_build', 'requirements.yml'): '',
      os.path.join('_build', 'bindep.txt'): 'java-17-openjdk-headless',
      os.path.join('_build', 'requirements.txt'): 'ansible-rulebook'}),
)


def builder_create(results, builder, venv, stage, definition, context, wanted, log):
    """ansible-builder create of one definition; it passes when the context holds every file wanted, each with the
    text it must hold."""
    started = time.monotonic()
    shutil.rmtree(context, ignore_errors=True)
    code = run_logged([builder, 'create', '--file', os.path.join(ROOT, definition), '--context', context,
                       '--output-filename', 'Containerfile'], log, env=venv.env())
    missing = []
    for name, text in sorted(wanted.items()):
        path = os.path.join(context, name)
        if os.path.exists(path):
            with open(path, encoding='utf-8') as handle:
                if text in handle.read():
                    continue
        missing.append(name + (' with %s' % text if text else ''))
    if code == 0 and missing:
        with open(log, 'a', encoding='utf-8') as handle:
            handle.write('*** create of %s did not write %s\n' % (definition, ', '.join(missing)))
    ok = code == 0 and not missing
    results.add(stage, 1 if ok else 0, 0 if ok else 1, 0, time.monotonic() - started, log)
