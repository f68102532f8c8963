"""Fixtures of the sandbox's tests: one sandbox per test module, a requests session and cached tokens.

A module may set ``TIME_SCALE`` (default 1.0) for its sandbox, and ``SCENARIO_CHANGES`` (top-level keys that
replace those of the default scenario, e.g. ``{"token_lifetime": 200}``).
"""
from __future__ import annotations

import json
import os
import sys

import pytest
import requests

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
# control.py and sandboxtest.py live next to this file
# pylint: disable=wrong-import-position
import control  # noqa: E402
from sandboxtest import CONTOSO, GRAPH, RealmSession, confidential_app, secret  # noqa: E402

DEFAULT_SCENARIO = os.path.join(os.path.dirname(os.path.abspath(__file__)), "scenarios", "default.json")


@pytest.fixture(scope="module")
def sandbox(request, tmp_path_factory):
    state_dir = tmp_path_factory.mktemp("sandbox")
    changes = getattr(request.module, "SCENARIO_CHANGES", None)
    scenario = None
    if changes:
        with open(DEFAULT_SCENARIO, encoding="utf-8") as handle:
            data = {**json.load(handle), **changes}
        scenario = state_dir / "scenario.json"
        scenario.write_text(json.dumps(data), encoding="utf-8")
    info = control.start(str(state_dir), scenario=scenario and str(scenario),
                         time_scale=getattr(request.module, "TIME_SCALE", 1.0))
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


@pytest.fixture(scope="module")
def realm_http(sandbox):
    """Like ``http``, and sends MSAL's user realm look-up (port 443) to the sandbox, as the collection does."""
    session = RealmSession(sandbox)
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
