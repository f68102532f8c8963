"""The eda stage's own checks: the real ansible-rulebook runs a rulebook with the events recorded, to its end or until
stopped, and the sandbox that the event source tests use is up and signs apps in."""
from __future__ import annotations

import harness

SIGINT_EXIT = 130  # ansible-rulebook turns SIGINT into KeyboardInterrupt and exits 128 + 2


def test_range_source_events_are_recorded_and_the_rulebook_ends_cleanly(rulebook):
    run = rulebook('range.yml', {'limit': 3})
    assert run.wait(timeout=120) == 0, run.report()
    events = run.events()
    assert [event['i'] for event in events] == [0, 1, 2], run.report()
    assert all(event['meta']['source'] == {'name': 'numbers', 'type': 'eda.builtin.range'} for event in events)
    assert 'ERROR' not in run.stderr(), run.report()


def test_a_rulebook_that_runs_on_is_stopped_after_the_events_awaited(rulebook):
    run = rulebook('range.yml', {'limit': 100000, 'delay': 0.2})
    events = run.wait_for_events(3, timeout=120)
    assert [event['i'] for event in events[:3]] == [0, 1, 2]
    assert run.returncode is None, run.report()
    assert run.stop(timeout=15) == SIGINT_EXIT, run.report()


def test_sandbox_signs_an_app_in(sandbox):
    given = harness.credentials(sandbox)
    harness.admin(sandbox, 'POST', '/counters/reset')
    answer = harness.token(sandbox)
    assert answer['token_type'] == 'Bearer' and answer['access_token']
    counted = harness.admin(sandbox, 'GET', '/counters')['token_requests']
    assert counted == {given['client_id']: {given['tenant_id']: 1}}
