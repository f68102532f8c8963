# -*- coding: utf-8 -*-
# Copyright: (c) 2026, secops.m365_defender contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The Event-Driven Ansible content in extensions/eda/: the example rulebooks, the EDA controller credential type and
the decision environment, and docs/eda.md's tables of the sources' arguments and the rulebooks' variables.

Without ansible-rulebook (tests/eda runs the real one): the rulebooks are checked against the basics of its rulebook
schema (ansible_rulebook/schema/ruleset_schema.json) and their templates rendered as it renders them, with Jinja2's
NativeEnvironment and StrictUndefined (ansible_rulebook/util.py, render_string). The credential type is checked as
the EDA controller validates one (aap_eda/core/utils/credentials.py: validate_schema, validate_injectors) and its
extra_vars rendered as the controller renders them for an activation, natively and with StrictUndefined, from the
inputs a credential holds.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import glob
import inspect
import os
import re

import jinja2
import pytest
import yaml
from jinja2 import meta
from jinja2.nativetypes import NativeEnvironment
from jinja2.sandbox import ImmutableSandboxedEnvironment

from ansible_collections.secops.m365_defender.plugins.module_utils._clouds import (
    API_CHOICES,
    CLOUD_CHOICES,
    resolve_endpoints,
)
from ansible_collections.secops.m365_defender.plugins.plugin_utils._event_source import (
    ARGUMENT_SPEC,
    RULEBOOK_ARGUMENTS,
    WATCH_OPTIONS,
    Watch,
)
from ansible_collections.secops.m365_defender.tests.unit.plugins.constants import CLIENT, OTHER_TENANT_ID, TENANT_ID

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
EDA = os.path.join(ROOT, "extensions", "eda")
RULEBOOKS = sorted(glob.glob(os.path.join(EDA, "rulebooks", "*.yml")))
CREDENTIAL_TYPE = os.path.join(EDA, "credential_type_m365_defender.yml")
DECISION_ENVIRONMENT = os.path.join(EDA, "decision-environment.yml")
DOC = os.path.join(ROOT, "docs", "eda.md")

COLLECTION = "secops.m365_defender."
SOURCES = {COLLECTION + "incidents": "incident", COLLECTION + "alerts": "alert"}
# ruleset_schema.json: the keys of a ruleset, a source, a rule and the actions.
RULESET_KEYS = {"name", "hosts", "sources", "rules", "gather_facts", "default_events_ttl", "match_multiple_rules",
                "execution_strategy"}
RULESET_REQUIRED = {"name", "hosts", "sources", "rules"}
RULE_KEYS = {"name", "condition", "action", "actions", "enabled", "throttle"}
ACTIONS = {"run_playbook", "run_module", "run_job_template", "run_workflow_template", "post_event", "set_fact",
           "retract_fact", "print_event", "debug", "none", "shutdown"}
RUN_PLAYBOOK_KEYS = {"name", "set_facts", "post_events", "ruleset", "retry", "retries", "delay", "verbosity",
                     "var_root", "extra_vars", "json_mode", "copy_files", "check_files", "lock"}

# The EDA controller's rules for a credential type (aap_eda/core/utils/credentials.py).
INJECTOR_KINDS = {"env", "extra_vars", "file"}
RESERVED_EXTRA_VARS = {"ansible", "eda"}
FIELD_KEYS = {"id", "type", "label", "help_text", "secret", "multiline", "choices", "default", "format"}
SECRET_INPUTS = {"client_secret", "client_certificate", "client_certificate_password"}

# A credential's values as ansible-rulebook receives them: the controller vault-encrypts secret inputs.
VAULTED = "$ANSIBLE_VAULT;1.2;AES256;EDA_SERVER\n6438..."


def load(path):
    with open(path, encoding="utf-8") as handle:
        return yaml.safe_load(handle)


def rulebook_source(rulebook):
    """(plugin name, arguments) of each source of each ruleset."""
    found = []
    for ruleset in rulebook:
        for source in ruleset["sources"]:
            names = [key for key in source if key not in ("name", "filters")]
            found.append((names[0], source[names[0]]))
    return found


def actions(rule):
    listed = rule.get("actions") or [rule["action"]]
    return [(kind, args) for action in listed for kind, args in action.items()]


def render(value, variables):
    """A rulebook value as ansible-rulebook renders a source's argument or an action's: native types, every name
    defined."""
    if isinstance(value, dict):
        return dict((key, render(item, variables)) for key, item in value.items())
    if isinstance(value, list):
        return [render(item, variables) for item in value]
    if isinstance(value, str) and "{{" in value and "}}" in value:
        return NativeEnvironment(undefined=jinja2.StrictUndefined).from_string(value).render(variables)
    return value


def template_names(text):
    """The variables a template reads."""
    return meta.find_undeclared_variables(jinja2.Environment().parse(text))


def rulebook_variables(path):
    """Every variable the templates of a rulebook read, less the event (and ansible-rulebook's own `eda`)."""
    names = set()

    def walk(node):
        if isinstance(node, dict):
            for item in node.values():
                walk(item)
        elif isinstance(node, list):
            for item in node:
                walk(item)
        elif isinstance(node, str) and "{{" in node:
            names.update(template_names(node))

    walk(load(path))
    return names - {"event", "events", "eda", "none"}


def credential_extra_vars(credential_type, inputs):
    """The extra variables an activation gets from a credential holding `inputs` (secret ones vault-encrypted)."""
    environment = NativeEnvironment(undefined=jinja2.StrictUndefined)
    return dict((name, environment.from_string(template).render(inputs) if "{{" in template else template)
                for name, template in credential_type["injectors"]["extra_vars"].items())


@pytest.fixture(scope="module")
def credential_type():
    return load(CREDENTIAL_TYPE)


def test_there_are_rulebooks_for_both_sources():
    kinds = set(name for path in RULEBOOKS for name, dummy in rulebook_source(load(path)))
    assert kinds == set(SOURCES)


@pytest.mark.parametrize("path", RULEBOOKS, ids=os.path.basename)
def test_rulebook_has_the_shape_ansible_rulebook_accepts(path):
    rulebook = load(path)
    assert isinstance(rulebook, list) and rulebook, "a rulebook is a non-empty list of rulesets"
    for ruleset in rulebook:
        assert isinstance(ruleset, dict)
        assert RULESET_REQUIRED <= set(ruleset) <= RULESET_KEYS, sorted(ruleset)
        assert isinstance(ruleset["name"], str) and isinstance(ruleset["hosts"], str)
        assert ruleset["sources"] and ruleset["rules"]
        for source in ruleset["sources"]:
            plugins = [key for key in source if key not in ("name", "filters")]
            assert len(plugins) == 1, "one plugin per source: %s" % plugins
            assert isinstance(source[plugins[0]], dict)
        for rule in ruleset["rules"]:
            assert set(rule) <= RULE_KEYS and {"name", "condition"} <= set(rule), sorted(rule)
            assert ("action" in rule) != ("actions" in rule)
            assert isinstance(rule["condition"], str) and rule["condition"].strip()
            for kind, dummy in actions(rule):
                assert kind in ACTIONS, kind


@pytest.mark.parametrize("path", RULEBOOKS, ids=os.path.basename)
def test_rulebook_sources_are_the_collection_s_with_arguments_they_accept(path):
    for name, args in rulebook_source(load(path)):
        assert name in SOURCES, name
        plugin = os.path.join(EDA, "plugins", "event_source", name[len(COLLECTION):] + ".py")
        assert os.path.isfile(plugin), plugin
        unknown = set(args) - set(ARGUMENT_SPEC) - set(RULEBOOK_ARGUMENTS)
        assert not unknown, "%s does not take %s" % (name, sorted(unknown))
        if SOURCES[name] == "incident":
            assert "service_source" not in args


@pytest.mark.parametrize("path", RULEBOOKS, ids=os.path.basename)
def test_rulebook_conditions_test_the_kind_and_change_of_the_event(path):
    for ruleset in load(path):
        kinds = set(SOURCES[name] for name, dummy in rulebook_source([ruleset]))
        for rule in ruleset["rules"]:
            condition = rule["condition"]
            assert re.search(r'event\.m365d\.kind == "(%s)"' % "|".join(kinds), condition), condition
            assert re.search(r'event\.m365d\.change == "(created|updated)"', condition), condition
            # The event keeps the item under its kind: event.m365d.incident or event.m365d.alert.
            for item in re.findall(r"event\.m365d\.(incident|alert)\b", condition):
                assert item in kinds


@pytest.mark.parametrize("path", RULEBOOKS, ids=os.path.basename)
def test_rulebook_runs_playbooks_of_the_collection(path):
    names = [args["name"] for ruleset in load(path) for rule in ruleset["rules"]
             for kind, args in actions(rule) if kind == "run_playbook"]
    assert names
    for name in names:
        assert name.startswith(COLLECTION), name
        assert os.path.isfile(os.path.join(ROOT, "playbooks", name[len(COLLECTION):] + ".yml")), name
    for ruleset in load(path):
        for rule in ruleset["rules"]:
            for kind, args in actions(rule):
                if kind == "run_playbook":
                    assert set(args) <= RUN_PLAYBOOK_KEYS, sorted(args)


def sources_rendered(path, variables):
    return [(name, render(args, variables)) for name, args in rulebook_source(load(path))]


@pytest.mark.parametrize("path", RULEBOOKS, ids=os.path.basename)
def test_rulebook_with_settings_from_vars_gives_the_source_arguments_it_checks(path, tmp_path):
    variables = {"m365d_tenants": [TENANT_ID, {"tenant_id": OTHER_TENANT_ID, "client_secret": "other-tenant-secret"}],
                 "m365d_client_id": CLIENT, "m365d_client_secret": "vars-file-secret",
                 "m365d_base_url": "https://127.0.0.1:8443", "m365d_ca_path": "/etc/pki/sandbox-ca.pem",
                 "m365d_interval": 15, "m365d_start": "2h",
                 "m365d_incidents_state_file": str(tmp_path / "incidents.json"),
                 "m365d_alerts_state_file": str(tmp_path / "alerts.json")}
    for name, args in sources_rendered(path, variables):
        assert args["client_secret"] == "vars-file-secret"
        assert args["login_url"] == args["graph_url"] == args["defender_url"] == "https://127.0.0.1:8443"
        assert args["ca_path"] == "/etc/pki/sandbox-ca.pem"
        assert args["interval"] == 15 and args["start"] == "2h"
        assert args["api"] == "graph" and args["cloud"] == "global"
        assert args["state_file"] == variables["m365d_%ss_state_file" % SOURCES[name]]
        watch = Watch(SOURCES[name], args)
        assert sorted(watch.tenants) == sorted([TENANT_ID, OTHER_TENANT_ID])
        assert watch.tenants[OTHER_TENANT_ID]["client_secret"] == "other-tenant-secret"
        assert watch.tenants[TENANT_ID]["client_secret"] == "vars-file-secret"


@pytest.mark.parametrize("path", RULEBOOKS, ids=os.path.basename)
def test_rulebook_without_variables_passes_nothing_but_its_defaults(path):
    for dummy, args in sources_rendered(path, {}):
        defaults = {"api": "graph", "cloud": "global", "interval": 60, "start": "latest"}
        assert dict((key, value) for key, value in args.items() if value is not None) == defaults
        assert ARGUMENT_SPEC["interval"]["default"] == 60 and ARGUMENT_SPEC["start"]["default"] == "latest"


@pytest.mark.parametrize("path", RULEBOOKS, ids=os.path.basename)
def test_rulebook_without_variables_leaves_the_environment_to_the_source(path, monkeypatch):
    monkeypatch.setenv("AZURE_TENANT_ID", TENANT_ID)
    monkeypatch.setenv("AZURE_CLIENT_ID", CLIENT)
    monkeypatch.setenv("AZURE_CLIENT_SECRET", "environment-secret")
    for name, args in sources_rendered(path, {}):
        watch = Watch(SOURCES[name], args)
        assert list(watch.tenants) == [TENANT_ID]
        assert watch.tenants[TENANT_ID]["client_secret"] == "environment-secret"


@pytest.mark.parametrize("path", RULEBOOKS, ids=os.path.basename)
def test_rulebook_with_an_eda_credential_reads_its_variables_and_files(path, credential_type):
    inputs = {"tenant_id": TENANT_ID, "client_id": CLIENT, "client_certificate": "-----BEGIN PRIVATE KEY-----",
              "client_certificate_password": VAULTED, "ca_bundle": "-----BEGIN CERTIFICATE-----", "cloud": "gcc"}
    variables = credential_extra_vars(credential_type, inputs)
    # ansible-rulebook writes each file injector's content to a file and names it under eda.filename.
    variables["eda"] = {"filename": {"m365d_client_certificate": "/tmp/tmpcert", "m365d_ca_bundle": "/tmp/tmpca"}}
    for name, args in sources_rendered(path, variables):
        assert args["tenant_id"] == TENANT_ID and args["client_id"] == CLIENT
        assert args["client_certificate_path"] == "/tmp/tmpcert"
        assert args["client_certificate_password"] == VAULTED
        assert args["ca_path"] == "/tmp/tmpca"
        assert args["client_secret"] is None and args["login_url"] is None
        assert args["api"] == "graph" and args["cloud"] == "gcc"
        assert Watch(SOURCES[name], args).tenants[TENANT_ID]["cloud"] == "gcc"
    # A credential without a certificate: ansible-rulebook writes no file, so eda.filename has no entry.
    variables["eda"] = {"filename": {}}
    for dummy, args in sources_rendered(path, variables):
        assert args["client_certificate_path"] is None and args["ca_path"] is None
    # A variable of --vars wins over the credential's file.
    variables["m365d_client_certificate_path"] = "/etc/pki/app.pem"
    for dummy, args in sources_rendered(path, variables):
        assert args["client_certificate_path"] == "/etc/pki/app.pem"


EVENTS = {
    "incident": {"m365d": {"kind": "incident", "change": "created", "tenant_id": OTHER_TENANT_ID, "id": "220738",
                           "last_update": "2026-12-06T02:31:47.606Z",
                           "incident": {"id": "220738", "severity": "high"}}},
    "alert": {"m365d": {"kind": "alert", "change": "created", "tenant_id": OTHER_TENANT_ID,
                        "id": "da246631552435759325_7630",
                        "last_update": "2026-12-06T02:31:47.606Z", "alert": {"id": "da246631552435759325_7630"}}},
}


@pytest.mark.parametrize("path", RULEBOOKS, ids=os.path.basename)
def test_rulebook_runs_the_playbook_for_the_event_s_item_in_the_event_s_tenant_only(path):
    for ruleset in load(path):
        kind = [SOURCES[name] for name, dummy in rulebook_source([ruleset])][0]
        for rule in ruleset["rules"]:
            for dummy, args in actions(rule):
                extra = render(args.get("extra_vars", {}), {"event": EVENTS[kind]})
                assert extra["m365d_hosts"] == "localhost"
                assert extra["m365d_tenant_id"] == OTHER_TENANT_ID
                # Rendered natively, an incident number becomes a number; the role reads numbers as text.
                item = extra.get("incident_triage_incident_ids") or [extra.get("m365d_alert_id")]
                assert [str(value) for value in item] == [EVENTS[kind]["m365d"]["id"]]
                mapped = render(args["extra_vars"],
                                {"event": EVENTS[kind], "m365d_tenant_hosts": {OTHER_TENANT_ID: "fabrikam"}})
                assert mapped["m365d_hosts"] == "fabrikam"


def test_the_triage_rulebook_passes_the_rules_on():
    path = os.path.join(EDA, "rulebooks", "incident_triage.yml")
    rules = [{"name": "Tag", "set": {"tags": ["eda"]}}]
    for ruleset in load(path):
        for rule in ruleset["rules"]:
            for dummy, args in actions(rule):
                assert render(args["extra_vars"], {"event": EVENTS["incident"], "incident_triage_rules": rules})[
                    "incident_triage_rules"] == rules
                assert render(args["extra_vars"], {"event": EVENTS["incident"]})["incident_triage_rules"] == []


def test_both_rulebooks_connect_alike():
    """The sources' connection arguments are written once per rulebook: they must not drift apart."""
    connection = set(ARGUMENT_SPEC) - set(WATCH_OPTIONS)
    written = [dict((key, value) for key, value in args.items() if key in connection)
               for path in RULEBOOKS for dummy, args in rulebook_source(load(path))]
    assert written and all(args == written[0] for args in written)


def test_credential_type_is_one_the_eda_controller_accepts(credential_type):
    assert set(credential_type) <= {"name", "description", "inputs", "injectors"}
    assert credential_type["name"] and isinstance(credential_type["description"], str)
    fields = credential_type["inputs"]["fields"]
    ids = [field["id"] for field in fields]
    assert len(ids) == len(set(ids)), "duplicate input ids"
    for field in fields:
        assert set(field) <= FIELD_KEYS, field
        assert re.match(r"^\w+$", field["id"]) and not field["id"].upper().startswith("EDA_")
        assert isinstance(field["label"], str) and field["label"]
        assert field.get("type", "string") in ("string", "boolean")
        assert isinstance(field.get("default", ""), (str, bool))
        if "choices" in field:
            assert all(isinstance(choice, str) for choice in field["choices"])
            assert field.get("default", field["choices"][0]) in field["choices"]
    assert set(credential_type["inputs"]["required"]) <= set(ids)
    injectors = credential_type["injectors"]
    assert set(injectors) <= INJECTOR_KINDS
    keys = [key for entries in injectors.values() for key in entries]
    assert len(keys) == len(set(keys)), "an injector key used twice"
    for key in injectors.get("extra_vars", {}):
        assert key not in RESERVED_EXTRA_VARS and not key.upper().startswith("EDA_")
    for key in injectors.get("file", {}):
        assert re.match(r"^template\.\w+$", key), "file injectors are template.<name>, not mixed with template"


def test_credential_type_injectors_name_declared_inputs_only_and_use_them_all(credential_type):
    ids = set(field["id"] for field in credential_type["inputs"]["fields"])
    used = set()
    for kind, entries in credential_type["injectors"].items():
        for key, template in entries.items():
            names = template_names(template) - {"none"}
            assert names <= ids, "%s %s reads %s" % (kind, key, sorted(names - ids))
            used |= names
    assert used == ids, "inputs no injector uses: %s" % sorted(ids - used)


def test_credential_type_renders_as_the_controller_validates_it(credential_type):
    """Saving a credential type, the controller renders each injector with StrictUndefined, every input set
    (choices: the first)."""
    context = {}
    for field in credential_type["inputs"]["fields"]:
        blank = True if field.get("type") == "boolean" else ""
        context[field["id"]] = (field.get("choices") or [field.get("default") or blank])[0]
    sandbox = ImmutableSandboxedEnvironment(undefined=jinja2.StrictUndefined)
    for entries in credential_type["injectors"].values():
        for template in entries.values():
            sandbox.from_string(template).render(context)


def test_credential_type_secrets_and_choices(credential_type):
    fields = dict((field["id"], field) for field in credential_type["inputs"]["fields"])
    for name in SECRET_INPUTS:
        assert fields[name].get("secret") is True, name
    assert fields["client_certificate"].get("multiline") and fields["ca_bundle"].get("multiline")
    assert set(fields["api"]["choices"]) <= set(API_CHOICES) and "endpoint" not in fields["api"]["choices"]
    assert tuple(fields["cloud"]["choices"]) == CLOUD_CHOICES
    assert credential_type["inputs"]["required"] == ["client_id"]


def test_credential_with_only_a_client_id_injects_nulls_and_the_defaults(credential_type):
    """An activation renders the extra_vars from the inputs the credential holds: absent ones must not fail."""
    injected = credential_extra_vars(credential_type, {"client_id": CLIENT})
    assert injected.pop("m365d_client_id") == CLIENT
    assert injected.pop("m365d_api") == "graph" and injected.pop("m365d_cloud") == "global"
    assert set(injected.values()) == {None}, injected
    emptied = credential_extra_vars(credential_type, {"client_id": CLIENT, "tenant_id": "", "client_secret": ""})
    assert emptied["m365d_tenant_id"] is None and emptied["m365d_client_secret"] is None


def test_credential_type_injects_only_what_the_rulebooks_read(credential_type):
    rulebooks = []
    for path in RULEBOOKS:
        with open(path, encoding="utf-8") as handle:
            rulebooks.append((path, rulebook_variables(path), handle.read()))
    for name in credential_type["injectors"]["extra_vars"]:
        for path, variables, dummy in rulebooks:
            assert name in variables, "%s does not read %s" % (os.path.basename(path), name)
    for key in credential_type["injectors"].get("file", {}):
        for path, dummy, text in rulebooks:
            assert "eda.filename.%s" % key.split(".", 1)[1] in text, "%s does not read %s" % (path, key)


def test_every_rulebook_variable_is_documented():
    with open(DOC, encoding="utf-8") as handle:
        doc = handle.read()
    table = re.findall(r"^\| ((?:`[a-z0-9_]+`(?:, )?)+) \|", doc, re.M)
    documented = set(name for row in table for name in re.findall(r"`([a-z0-9_]+)`", row))
    for path in RULEBOOKS:
        missing = rulebook_variables(path) - documented
        assert not missing, "docs/eda.md does not describe %s of %s" % (sorted(missing), os.path.basename(path))


# Options without a default in the argument spec whose value, when not given, the sign-in decides.
EFFECTIVE_DEFAULTS = dict((name, inspect.signature(resolve_endpoints).parameters[name].default)
                          for name in ("api", "cloud"))


def test_every_source_argument_is_documented_with_its_default():
    with open(DOC, encoding="utf-8") as handle:
        doc = handle.read()
    # The tables of the connection arguments (argument, environment variable, default, meaning) and of the others
    # (argument, default, meaning) come first: the default is the cell before the meaning.
    rows = re.findall(r"^\| ((?:`[a-z0-9_]+`(?:, )?)+) \|(.*)\|$", doc, re.M)
    defaults = {}
    for names, rest in rows:
        cells = rest.split("|")
        for name in re.findall(r"`([a-z0-9_]+)`", names):
            if name not in defaults and len(cells) >= 2:
                defaults[name] = cells[-2].strip()
    for name, spec in ARGUMENT_SPEC.items():
        assert name in defaults, "docs/eda.md does not describe the argument %s" % name
        default = spec.get("default", EFFECTIVE_DEFAULTS.get(name))
        shown = "" if default is None else "`%s`" % (
            str(default).lower() if isinstance(default, bool) else "%g" % default if isinstance(default, float)
            else default)
        assert defaults[name] == shown, "docs/eda.md shows %r as the default of %s, not %r" % (
            defaults[name], name, shown)


def test_decision_environment_has_what_a_decision_environment_needs():
    definition = load(DECISION_ENVIRONMENT)
    assert definition["version"] == 3
    assert definition["images"]["base_image"]["name"]
    dependencies = definition["dependencies"]
    assert dependencies["ansible_core"]["package_pip"].startswith("ansible-core")
    assert dependencies["ansible_runner"]["package_pip"].startswith("ansible-runner")
    assert any(entry.startswith("ansible-rulebook") for entry in dependencies["python"])
    assert any(re.match(r"java-(1[7-9]|[2-9]\d)-openjdk", entry) for entry in dependencies["system"])
    requirements = load(os.path.join(EDA, dependencies["galaxy"]))
    assert [entry["name"] for entry in requirements["collections"]] == ["secops.m365_defender"]
    # The collection's Python packages come from its own meta/execution-environment.yml, as the EE's do.
    assert load(os.path.join(ROOT, "meta", "execution-environment.yml"))["dependencies"]["python"] == "requirements.txt"
