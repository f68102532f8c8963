"""Fixtures of the conformance tests: a sandbox for the whole run (started and stopped by the harness's Sandbox),
Microsoft's Graph SDK for Python signed in to it (graphsdk.py), and the sandbox's own view of its incidents.

`python3 tests/run/suite.py test --only conformance` runs these tests in noxfile.py's session conformance; by hand:
`.venv/nox/bin/nox -s conformance`.
"""
from __future__ import annotations

import asyncio
import os
import sys

import pytest

from graphsdk import Graph, admin_get, secret_credential, tenant_id

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), 'run'))
# the harness's modules (standard library only): its Sandbox starts and always stops tests/sandbox
# pylint: disable=wrong-import-position
from paths import BUILD, LOGS  # noqa: E402
from sandbox_process import Sandbox, named  # noqa: E402

WORK = os.path.join(BUILD, 'conformance')
APP = 'soc-responder'  # consented in Contoso and Fabrikam: incidents read/write, alerts, hunting


@pytest.fixture(scope='session')
def sandbox():
    """A sandbox of the default scenario for the whole run (real HTTPS, its own CA)."""
    with Sandbox(sys.executable, os.path.join(WORK, 'sandbox'), os.path.join(LOGS, 'conformance-sandbox.log')) as info:
        yield info


@pytest.fixture(scope='session')
def app(sandbox):
    return named(sandbox['apps'], APP)


@pytest.fixture(scope='session')
def loop():
    event_loop = asyncio.new_event_loop()
    yield event_loop
    event_loop.close()


@pytest.fixture(scope='session')
def graph_for(sandbox, app, loop):
    """graph_for(tenant, credential=None): a Graph signed in to a tenant (default: with the app's secret)."""
    made = []

    def make(tenant='Contoso', credential=None):
        made.append(Graph(credential or secret_credential(sandbox, app, tenant), sandbox, loop))
        return made[-1]

    yield make
    for graph in made:
        graph.close()


@pytest.fixture(scope='session')
def graph(graph_for):
    """The SDK signed in to Contoso with soc-responder's secret."""
    return graph_for('Contoso')


@pytest.fixture(scope='session')
def store(sandbox):
    """store(tenant): the tenant's incidents as the sandbox holds them (Graph shape, newest first, with alerts)."""
    def read(tenant='Contoso'):
        return admin_get(sandbox, '/tenants/%s/incidents' % tenant_id(sandbox, tenant))['value']
    return read
