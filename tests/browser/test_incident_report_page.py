"""The HTML incident report as headless Chromium renders it, checked against the sandbox's own incidents.

The report comes from the incident_report playbook over Contoso, Fabrikam and Northwind (no consent there), as in
`make demo`; the expected values come from sandbox.json and the admin API (conftest.py), never from the report.
"""
from __future__ import annotations

import datetime
import re

SEVERITIES = ('high', 'medium', 'low', 'informational', 'unknown')
OPEN_STATUSES = ('active', 'inProgress', 'awaitingAction')

ROWS = 'table => Array.from(table.tBodies[0].rows, row => Array.from(row.cells, cell => cell.innerText.trim()))'
BARS = '''groups => groups.map(group => ({
    tenant: group.dataset.tenant,
    label: group.querySelector('text').textContent,
    total: group.querySelector('text:last-of-type').textContent,
    segments: Array.from(group.querySelectorAll('rect.segment'), rect => {
        const box = rect.getBoundingClientRect();
        return {severity: rect.dataset.severity, count: Number(rect.dataset.count),
                left: box.left, right: box.right, width: box.width, height: box.height};
    }),
}))'''
LINKS = 'links => links.map(link => ({href: link.href, target: link.target, rel: link.rel, text: link.innerText}))'


def incidents(run, host=None, only_open=False):
    """The sandbox's incidents of the tenants the report could read (or of one of them)."""
    return [incident for name, tenant in run.tenants.items() if tenant['read'] and host in (None, name)
            for incident in tenant['incidents'] if not only_open or incident['status'] in OPEN_STATUSES]


def counts(items, field, keys):
    return [sum(1 for item in items if item[field] == key) for key in keys]


def table(page, selector):
    """A table's body as rendered: one list of cell texts per row."""
    return page.eval_on_selector(selector, ROWS)


def test_playbook_succeeded(run):
    assert run.code == 0, 'ansible-playbook exit code %d; see %s' % (run.code, run.log)


def test_cards(browser, run):
    page = browser.page
    shown = dict((key, page.inner_text('#' + key)) for key in
                 ('total-incidents', 'total-open', 'open-high', 'total-tenants', 'tenants-failed'))
    assert shown == {
        'total-incidents': str(len(incidents(run))),
        'total-open': str(len(incidents(run, only_open=True))),
        'open-high': str(counts(incidents(run, only_open=True), 'severity', ['high'])[0]),
        'total-tenants': str(len(run.tenants)),
        'tenants-failed': str(sum(1 for tenant in run.tenants.values() if not tenant['read'])),
    }
    assert all(card.is_visible() for card in page.locator('#totals .card').all())


def test_chart_bars(browser, run):
    bars = browser.page.eval_on_selector_all('#chart g.bar', BARS)
    assert [group['tenant'] for group in bars] == [row[0].split('\n')[0] for row in table(browser.page, '#by-tenant')]
    assert sorted(group['tenant'] for group in bars) == sorted(run.tenants)
    for group in bars:
        assert group['label'] == group['tenant']
        if not run.tenants[group['tenant']]['read']:
            assert (group['total'], group['segments']) == ('not read', [])
            continue
        open_incidents = incidents(run, group['tenant'], only_open=True)
        expected = [(severity, count) for severity, count in zip(SEVERITIES, counts(open_incidents, 'severity', SEVERITIES)) if count]
        assert [(segment['severity'], segment['count']) for segment in group['segments']] == expected
        assert group['total'] == str(len(open_incidents))


def test_chart_geometry(browser):
    """The SVG is really drawn, and each segment's rendered width is proportional to its count."""
    chart = browser.page.locator('#chart')
    box = chart.bounding_box()
    assert chart.is_visible() and box['width'] > 0 and box['height'] > 0
    segments = [segment for group in browser.page.eval_on_selector_all('#chart g.bar', BARS) for segment in group['segments']]
    assert segments and all(segment['width'] > 0 and segment['height'] > 0 for segment in segments)
    scale = sum(segment['width'] for segment in segments) / sum(segment['count'] for segment in segments)
    for segment in segments:
        assert abs(segment['width'] - segment['count'] * scale) < 0.5, (segment, scale)
        assert box['x'] <= segment['left'] and segment['right'] <= box['x'] + box['width']


def test_by_tenant_table(browser, run):
    page = browser.page
    generated = re.search(r'Generated (\S+Z)', page.inner_text('header')).group(1)
    now = datetime.datetime.strptime(generated, '%Y-%m-%dT%H:%M:%SZ')
    rows = dict((row[0].split('\n')[0], row) for row in table(page, '#by-tenant'))
    assert sorted(rows) == sorted(run.tenants)
    for host, tenant in run.tenants.items():
        row = rows[host]
        assert row[0].split('\n')[1:] == [tenant['id']]
        if not tenant['read']:
            assert row[1:] == [''] * (len(row) - 2) + ['not read']
            continue
        everything, open_incidents = incidents(run, host), incidents(run, host, only_open=True)
        expected = [str(len(everything)), str(len(open_incidents))] + [str(count) for count in counts(open_incidents, 'severity', SEVERITIES)]
        assert row[2:-2] == expected and row[-1] == 'read'
        oldest = min(datetime.datetime.strptime(incident['createdDateTime'][:19], '%Y-%m-%dT%H:%M:%S') for incident in open_incidents)
        assert abs(float(row[-2]) - (now - oldest).total_seconds() / 86400) <= 0.1


def test_by_status_and_severity_tables(browser, run):
    page = browser.page
    statuses = page.eval_on_selector_all('#by-status thead th', 'cells => cells.map(cell => cell.textContent)')
    assert set(incident['status'] for incident in incidents(run)) <= set(statuses)
    assert table(page, '#by-status') == [[str(count) for count in counts(incidents(run), 'status', statuses)]]
    severities = page.eval_on_selector_all('#by-severity thead th', 'cells => cells.map(cell => cell.textContent)')[1:]
    assert severities == list(SEVERITIES)
    assert table(page, '#by-severity') == [
        ['All'] + [str(count) for count in counts(incidents(run), 'severity', SEVERITIES)],
        ['Open'] + [str(count) for count in counts(incidents(run, only_open=True), 'severity', SEVERITIES)],
    ]


def test_oldest_open_incidents(browser, run):
    page = browser.page
    hosts = dict((incident['id'], host) for host in run.tenants for incident in incidents(run, host))
    # By the time, not its text: answers carry 0 to 7 fraction digits, which text order gets wrong.
    expected = sorted(incidents(run, only_open=True),
                      key=lambda incident: (datetime.datetime.fromisoformat(incident['createdDateTime']), incident['id']))[:10]
    rows = table(page, '#oldest-open')
    assert len(rows) == 10
    assert [row[:5] for row in rows] == [[hosts[incident['id']], incident['id'], incident['displayName'], incident['severity'],
                                          incident['status']] for incident in expected]
    ages = [float(row[5]) for row in rows]
    assert ages == sorted(ages, reverse=True)
    links = page.eval_on_selector_all('#oldest-open tbody a', LINKS)
    assert [link['text'] for link in links] == [incident['id'] for incident in expected]
    for link, incident in zip(links, expected):
        tenant_id = run.tenants[hosts[incident['id']]]['id']
        assert link['href'] == incident['incidentWebUrl']
        assert link['href'] == 'https://security.microsoft.com/incident2/%s/overview?tid=%s' % (incident['id'], tenant_id)
        assert link['target'] == '_blank' and 'noopener' in link['rel'].split()


def test_failures_table(browser, run):
    page = browser.page
    unread = dict((host, tenant['id']) for host, tenant in run.tenants.items() if not tenant['read'])
    assert list(unread) == ['northwind']
    rows = table(page, '#failures')
    assert [row[0] for row in rows] == list(unread)
    assert all('AADSTS700016' in row[1] for row in rows)
    links = page.eval_on_selector_all('#failures a.consent', LINKS)
    assert [link['href'] for link in links] == ['%s/%s/adminconsent?client_id=%s' % (run.base_url, tenant_id, run.client_id)
                                                for tenant_id in unread.values()]
    assert all(link['target'] == '_blank' and 'noopener' in link['rel'].split() for link in links)
    assert page.locator('#failures a.consent').first.is_visible()


def test_no_console_errors_and_nothing_run(browser):
    assert [message for message in browser.console if message.startswith(('error', 'pageerror'))] == []
    assert browser.dialogs == []
    assert browser.page.locator('script').count() == 0


def test_no_request_but_the_file(browser):
    """No external assets: the page loads nothing but itself."""
    assert browser.requests == [browser.url]
