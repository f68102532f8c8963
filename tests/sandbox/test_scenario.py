"""The scenario loader: the default scenario's users, consents and identities, and what it refuses."""
from __future__ import annotations

import copy
import datetime
import json
import os

import pytest

from sandboxlib.scenario import ScenarioError, load

DEFAULT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "scenarios", "default.json")
NOW = datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc)
CONTOSO = "6d9a1c1e-2f43-4b8e-9a0f-0c1b2d3e4f50"
FABRIKAM = "8e7f6a5b-4c3d-4e2f-8a1b-9c8d7e6f5a4b"


@pytest.fixture(autouse=True)
def no_faults():
    """No sandbox here: replaces conftest's fixture of the same name."""
    yield


@pytest.fixture(name="default_data")
def fixture_default_data():
    with open(DEFAULT, encoding="utf-8") as handle:
        return json.load(handle)


def load_data(tmp_path, data):
    path = tmp_path / "scenario.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    return load(str(path), NOW)


def test_default_scenario(tmp_path, default_data):
    scenario = load_data(tmp_path, default_data)
    contoso = scenario.tenant("contoso.example")
    assert contoso.user("ANALYST@contoso.example").display_name == "Avery Analyst"
    assert "Contoso!Analyst1" not in repr(contoso.user("analyst@contoso.example"))
    cli = scenario.app("4748dbf6-ed12-45ed-abb9-936753fa00bc")
    assert cli.public_client and cli.known_in(CONTOSO) and not cli.known_in(FABRIKAM)
    assert cli.delegated_scopes(CONTOSO, "defender", "analyst@contoso.example") == ["Incident.ReadWrite",
                                                                                    "AdvancedHunting.Read"]
    assert cli.delegated_scopes(CONTOSO, "graph", "newhire@contoso.example") == []
    assert scenario.managed_identity().name == "sandbox-vm"
    assert scenario.managed_identity(object_id="8F9C40FC-2E91-49E6-BD63-156D428CF6AB").name == "soc-automation"
    assert scenario.device_code == {"interval": 1, "expires_in": 900}


def _user(data, index=0):
    return data["tenants"][0]["users"][index]


def _app(data, name):
    return next(app for app in data["apps"] if app["name"] == name)


@pytest.mark.parametrize("change, message", [
    (lambda data: _user(data).update(state="banned"), "state of user"),
    (lambda data: _user(data).update(upn="someone@fabrikam.example"), "needs a UPN in one of its domains"),
    (lambda data: _user(data).pop("password"), "needs a password"),
    (lambda data: _user(data, 1).update(upn=_user(data)["upn"]), "duplicate user"),
    (lambda data: _app(data, "soc-analyst-cli")["delegated_permissions"][CONTOSO].update(
        users_without_consent=["ghost@contoso.example"]), "unknown users of Contoso"),
    (lambda data: _app(data, "soc-analyst-cli")["delegated_permissions"].update({FABRIKAM: {}}),
     "single-tenant app soc-analyst-cli cannot be consented"),
    (lambda data: data["managed_identities"][1].update(type="system_assigned"), "one system-assigned"),
    (lambda data: data["managed_identities"][1].update(client_id=_app(data, "soc-reader")["client_id"]),
     "duplicate client id"),
    (lambda data: data["managed_identities"][0].update(tenant="00000000-0000-0000-0000-000000000000"),
     "unknown tenant"),
    (lambda data: _app(data, "soc-responder")["federated_credentials"][0].pop("subject"), "needs an issuer and a subject"),
    (lambda data: data.update(device_code={"interval": 0}), "interval must be a positive integer"),
    (lambda data: data.update(device_code={"poll": 1}), "device_code takes"),
    (lambda data: data.update(refresh_token_lifetime="long"), "refresh_token_lifetime"),
])
def test_scenario_errors(tmp_path, default_data, change, message):
    data = copy.deepcopy(default_data)
    change(data)
    with pytest.raises(ScenarioError, match=message):
        load_data(tmp_path, data)
