"""Helpers the sandbox's tests share (the fixtures are in conftest.py)."""
from __future__ import annotations

import base64
import json

import msal

CONTOSO = "6d9a1c1e-2f43-4b8e-9a0f-0c1b2d3e4f50"
FABRIKAM = "8e7f6a5b-4c3d-4e2f-8a1b-9c8d7e6f5a4b"
NORTHWIND = "3c2b1a09-8f7e-4d6c-9b5a-4e3d2c1b0a98"
GRAPH = "https://graph.microsoft.com/.default"
DEFENDER = "https://api.security.microsoft.com/.default"


def app_info(sandbox, name):
    return next(app for app in sandbox["apps"] if app["name"] == name)


def secret(sandbox, name, expired=False):
    return next(s["value"] for s in app_info(sandbox, name)["secrets"] if s["expired"] == expired)


def confidential_app(sandbox, http, name, credential, tenant=CONTOSO):
    return msal.ConfidentialClientApplication(app_info(sandbox, name)["client_id"], client_credential=credential,
                                              authority=f"{sandbox['base_url']}/{tenant}", instance_discovery=False,
                                              http_client=http)


def claims_of(token):
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def bearer(token):
    return {"Authorization": f"Bearer {token}"}


def canonical(sandbox, http, tenant=CONTOSO, api="graph"):
    """The tenant's incidents straight from the store (admin API), newest first."""
    return http.get(f"{sandbox['admin_url']}/tenants/{tenant}/incidents", params={"api": api}).json()["value"]


def add_fault(sandbox, http, **spec):
    response = http.post(f"{sandbox['admin_url']}/faults", json=spec)
    assert response.status_code == 201, response.text
    return response.json()["id"]


def counters(sandbox, http, reset=False):
    """The admin counters; with ``reset``, zeroed first (which also clears the rate-limit windows)."""
    if reset:
        return http.post(f"{sandbox['admin_url']}/counters/reset").json()
    return http.get(f"{sandbox['admin_url']}/counters").json()
