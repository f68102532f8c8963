"""The checks of sdkcheck.py on answers made up here (no sandbox): they find what they are meant to find, so the
conformance tests that pass are not passing for want of looking."""
from __future__ import annotations

import json

from kiota_serialization_json.json_parse_node_factory import JsonParseNodeFactory
from msgraph.generated.models.security.alert_determination import AlertDetermination
from msgraph.generated.models.security.incident import Incident

import sdkcheck

ALERT = {'id': 'da1', 'determination': 'malware', 'evidence': [
    {'@odata.type': '#microsoft.graph.security.ipEvidence', 'ipAddress': '192.0.2.1', 'verdict': 'suspicious'},
    {'@odata.type': '#microsoft.graph.security.ipEvidence', 'ipAddress': '192.0.2.2', 'verdict': 'notAVerdict'},
]}


def parse(raw):
    """An Incident as the SDK reads it from JSON."""
    root = JsonParseNodeFactory().get_root_parse_node('application/json', json.dumps(raw).encode())
    return root.get_object_value(Incident)


def test_enum_member_unknown_to_the_sdk_is_lost():
    raw = {'id': '1', 'determination': 'clean', 'severity': 'high', 'alerts': [ALERT]}
    problems = sdkcheck.lost_values(parse(raw), raw, 'incident 1')
    assert [(problem.path, problem.key, problem.raw) for problem in problems] == [
        ('incident 1', 'determination', 'clean'),
        ('incident 1 / alerts[0] / evidence[1]', 'verdict', 'notAVerdict'),
    ]
    assert problems[0].reader == 'get_enum_value(AlertDetermination)'


def test_known_members_are_not_lost():
    raw = {'id': '1', 'determination': 'notMalicious', 'customTags': ['a'], 'createdDateTime': '2024-05-01T10:00:00.12Z'}
    model = parse(raw)
    assert model.determination == AlertDetermination.NotMalicious
    assert not sdkcheck.lost_values(model, raw, 'incident 1')


def test_unknown_and_missing_properties():
    raw = {'@odata.context': 'x', 'id': '1', 'displayName': 'x', 'incidentName': 'legacy'}
    model = parse(raw)
    assert sdkcheck.unknown_properties(model, raw) == ['incidentName']
    missing = sdkcheck.missing_properties(model, raw, allowed=['alerts'])
    assert 'determination' in missing and 'summary' in missing
    assert not {'id', 'displayName', 'alerts', '@odata.type'} & set(missing)


def test_walk_reaches_evidence_subclasses():
    raw = {'id': '1', 'alerts': [ALERT]}
    entities = [(entity, path) for entity, _model, _raw, path in sdkcheck.walk(parse(raw), raw, 'i')]
    assert entities == [('Incident', 'i'), ('Alert', 'i / alerts[0]'), ('IpEvidence', 'i / alerts[0] / evidence[0]'),
                        ('IpEvidence', 'i / alerts[0] / evidence[1]')]
