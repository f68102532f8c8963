"""Fixtures of the sandbox's tests: one sandbox per test module, a requests session and cached tokens.

A module may set ``TIME_SCALE`` (default 1.0) for its sandbox.
"""
from __future__ import annotations

import os
import sys

import pytest
import requests

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
# control.py and sandboxtest.py live next to this file
# pylint: disable=wrong-import-position
import control  # noqa: E402
from sandboxtest import CONTOSO, GRAPH, confidential_app, secret  # noqa: E402


@pytest.fixture(scope="module")
def sandbox(request, tmp_path_factory):
    info = control.start(str(tmp_path_factory.mktemp("sandbox")), time_scale=getattr(request.module, "TIME_SCALE", 1.0))
    yield info
    control.stop(info)


@pytest.fixture(scope="module")
def http(sandbox):
    """A requests session that trusts the sandbox CA (trust_env off: REQUESTS_CA_BUNDLE would win otherwise)."""
    session = requests.Session()
    session.trust_env = False
    session.verify = sandbox["ca_path"]
    yield session
    session.close()


@pytest.fixture(autouse=True)
def no_faults(sandbox, http):
    yield
    http.delete(f"{sandbox['admin_url']}/faults")


@pytest.fixture(scope="module")
def tokens(sandbox, http):
    """Client-secret tokens, cached per (app, tenant, scope) for the whole module."""
    cache = {}

    def get(name, scope=GRAPH, tenant=CONTOSO):
        if (name, tenant, scope) not in cache:
            result = confidential_app(sandbox, http, name, secret(sandbox, name), tenant).acquire_token_for_client([scope])
            cache[name, tenant, scope] = result["access_token"]
        return cache[name, tenant, scope]
    return get
