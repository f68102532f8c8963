"""Runs the sandbox: a local HTTPS stand-in for Entra ID, the Graph security API and the Defender XDR API.

    python3 tests/sandbox/server.py --port PORT --state-dir DIR [--scenario FILE] [--time-scale X]

Listens on 127.0.0.1 only. When ready, writes DIR/sandbox.json (see docs/sandbox.md); removes it and exits 0
on SIGTERM or SIGINT.
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

# The package lives next to this script.
# pylint: disable=wrong-import-position
from sandboxlib import pki as pki_module  # noqa: E402
from sandboxlib import timefmt  # noqa: E402
from sandboxlib.app import Sandbox  # noqa: E402
from sandboxlib.federation import ISSUER_PATH as FEDERATION_ISSUER_PATH  # noqa: E402
from sandboxlib.httpd import Server  # noqa: E402
from sandboxlib.scenario import ScenarioError, load  # noqa: E402

HOST = "127.0.0.1"
DEFAULT_SCENARIO = os.path.join(os.path.dirname(os.path.abspath(__file__)), "scenarios", "default.json")


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--port", type=int, required=True, help="TCP port on 127.0.0.1; 0 picks a free one")
    parser.add_argument("--state-dir", required=True, help="where keys, certificates and sandbox.json go")
    parser.add_argument("--scenario", default=DEFAULT_SCENARIO, help="scenario JSON (default: %(default)s)")
    parser.add_argument("--time-scale", type=float, default=1.0,
                        help="multiplies every time window and Retry-After of the rate limits (0.01 = 100x faster)")
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    state_dir = os.path.abspath(args.state_dir)
    os.makedirs(state_dir, exist_ok=True)
    start = timefmt.utcnow()
    try:
        scenario = load(args.scenario, start)
        keys = pki_module.create(state_dir, scenario, start)
        app = Sandbox(scenario, keys, start, args.time_scale)
    except ScenarioError as exc:
        print(f"sandbox: {exc}", file=sys.stderr)
        return 2
    server = Server(app, HOST, args.port, keys.server_cert_path, keys.server_key_path)
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    threading.Thread(target=server.serve_forever, args=(0.1,), name="sandbox-http", daemon=True).start()
    info_path = os.path.join(state_dir, "sandbox.json")
    _write_json(info_path, describe(server.port, state_dir, scenario, keys, args, start))
    print(f"sandbox: ready at https://{HOST}:{server.port} (pid {os.getpid()}); see {info_path}",
          file=sys.stderr, flush=True)
    while not stop.wait(0.5):
        pass
    server.shutdown()
    server.server_close()
    os.remove(info_path)
    print("sandbox: stopped", file=sys.stderr, flush=True)
    return 0


def describe(port: int, state_dir: str, scenario, keys, args, start) -> dict:
    """The content of sandbox.json: everything a client needs to reach and sign in to the sandbox."""
    base_url = f"https://{HOST}:{port}"
    return {
        "base_url": base_url,
        "admin_url": f"{base_url}/_sandbox",
        "ca_path": keys.ca_path,
        "token_signing_key_path": keys.signing_key_path,
        "pid": os.getpid(),
        "time_scale": args.time_scale,
        "started": timefmt.seconds(start),
        "state_dir": state_dir,
        "scenario": os.path.abspath(args.scenario),
        "token_lifetime": scenario.token_lifetime,
        "refresh_token_lifetime": scenario.refresh_token_lifetime,
        "device_code": dict(scenario.device_code),
        "workload_issuer": {"issuer": f"{base_url}{FEDERATION_ISSUER_PATH}", "key_path": keys.workload_issuer_key_path},
        "tenants": [_describe_tenant(tenant) for tenant in scenario.tenants],
        "apps": [_describe_app(app, keys, start, base_url) for app in scenario.apps],
        "managed_identities": [_describe_managed_identity(identity) for identity in scenario.managed_identities],
    }


def _describe_tenant(tenant) -> dict:
    return {"id": tenant.id, "name": tenant.name, "domains": list(tenant.domains),
            "incident_count": tenant.incident_count,
            "users": [{"upn": user.upn, "id": user.id, "display_name": user.display_name, "password": user.password,
                       "state": user.state, "role": user.role} for user in tenant.users]}


def _describe_app(app, keys, start, base_url: str) -> dict:
    certificate = keys.app_certificates.get(app.name)
    return {
        "name": app.name,
        "client_id": app.client_id,
        "home_tenant": app.home_tenant,
        "sign_in_audience": app.sign_in_audience,
        "public_client": app.public_client,
        "secrets": [{"id": secret.id, "value": secret.value, "expires": timefmt.seconds(secret.expires),
                     "expired": secret.expired(start)} for secret in app.secrets],
        "certificate": certificate.describe() if certificate else None,
        "permissions": {tenant_id: {api: list(roles) for api, roles in grants.items()}
                        for tenant_id, grants in app.permissions.items()},
        "delegated_permissions": {
            tenant_id: {**{api: list(scopes) for api, scopes in grant.scopes.items()},
                        "users_without_consent": sorted(grant.users_without_consent)}
            for tenant_id, grant in app.delegated_permissions.items()},
        "federated_credentials": [{"name": credential.name, "issuer": credential.issuer_for(base_url),
                                   "subject": credential.subject, "audiences": list(credential.audiences)}
                                  for credential in app.federated_credentials],
    }


def _describe_managed_identity(identity) -> dict:
    return {"name": identity.name, "type": identity.type, "client_id": identity.client_id,
            "object_id": identity.object_id, "resource_id": identity.resource_id, "tenant": identity.tenant_id,
            "permissions": {api: list(roles) for api, roles in identity.permissions.items()}}


def _write_json(path: str, value: dict) -> None:
    temporary = f"{path}.tmp"
    with open(temporary, "w", encoding="utf-8") as handle:
        json.dump(value, handle, indent=2)
        handle.write("\n")
    os.replace(temporary, path)


if __name__ == "__main__":
    sys.exit(main())
