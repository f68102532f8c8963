"""Helpers the sandbox's tests share (the fixtures are in conftest.py)."""
from __future__ import annotations

import base64
import datetime
import json
import re
import time
from urllib.parse import urlsplit

import msal
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding

CONTOSO = "6d9a1c1e-2f43-4b8e-9a0f-0c1b2d3e4f50"
FABRIKAM = "8e7f6a5b-4c3d-4e2f-8a1b-9c8d7e6f5a4b"
NORTHWIND = "3c2b1a09-8f7e-4d6c-9b5a-4e3d2c1b0a98"
GRAPH = "https://graph.microsoft.com/.default"
DEFENDER = "https://api.security.microsoft.com/.default"
# The APIs' time stamps: UTC, 0 to 7 fraction digits
TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,7})?Z$")


def moment(text):
    """A time stamp of an answer as a datetime: answers differ in fraction digits, so never compare the strings."""
    assert TIMESTAMP.match(text), text
    whole, dummy, fraction = text[:-1].partition(".")
    return datetime.datetime.fromisoformat(whole).replace(
        microsecond=int(fraction[:6].ljust(6, "0")), tzinfo=datetime.timezone.utc)


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


def user_info(sandbox, upn):
    """A user of the scenario (with its password) from sandbox.json."""
    return next(user for tenant in sandbox["tenants"] for user in tenant["users"] if user["upn"] == upn)


class RealmSession(requests.Session):
    """Trusts the sandbox CA, and sends MSAL's user realm look-up (made on port 443 of the authority's host) to the
    sandbox's port, as the collection does."""

    def __init__(self, sandbox):
        super().__init__()
        self.trust_env = False
        self.verify = sandbox["ca_path"]
        self._base_url = sandbox["base_url"]

    def request(self, method, url, *args, **kwargs):  # pylint: disable=arguments-differ
        parts = urlsplit(url)
        if parts.hostname == "127.0.0.1" and parts.port is None and parts.path.startswith("/common/userrealm/"):
            url = self._base_url + url[len(f"{parts.scheme}://{parts.netloc}"):]
        return super().request(method, url, *args, **kwargs)


def public_app(sandbox, http, name="soc-analyst-cli", tenant=CONTOSO, **kwargs):
    return msal.PublicClientApplication(app_info(sandbox, name)["client_id"], authority=f"{sandbox['base_url']}/{tenant}",
                                        instance_discovery=False, http_client=http, **kwargs)


def forge_token(sandbox, claims):
    """An access token signed with the sandbox's own signing key: any claims a test needs (e.g. a given ``scp``)."""
    with open(sandbox["token_signing_key_path"], "rb") as handle:
        pem = handle.read()
    key = serialization.load_pem_private_key(pem, None)
    thumbprint = _b64(x509.load_pem_x509_certificate(pem).fingerprint(hashes.SHA1()))
    header = {"typ": "JWT", "alg": "RS256", "x5t": thumbprint, "kid": thumbprint}
    signing_input = ".".join(_b64(json.dumps(part).encode()) for part in (header, claims))
    return f"{signing_input}.{_b64(key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256()))}"


def delegated_claims(tenant, resource, scp, **extra):
    """Claims of a delegated token (analyst@contoso.example by default), valid for ten minutes."""
    now = int(time.time())
    return {"aud": resource, "iss": f"https://sts.windows.net/{tenant}/", "iat": now, "nbf": now, "exp": now + 600,
            "tid": tenant, "appid": "4748dbf6-ed12-45ed-abb9-936753fa00bc", "idtyp": "user", "scp": scp,
            "oid": "ce69d101-5558-4268-816d-a44e13aac5b5", "upn": "analyst@contoso.example", "ver": "1.0", **extra}


def _b64(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")
