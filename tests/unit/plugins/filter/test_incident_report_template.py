# -*- coding: utf-8 -*-
# Copyright: (c) 2026, secops.m365_defender contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The incident_report role's HTML template renders hostile incident and tenant data as text, never as markup.

The sandbox cannot create or retitle incidents, so the browser test (tests/browser) cannot carry such data; this
renders the template with jinja2 (as the template module does) over the filter's report of made-up incidents.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime
import os

from html.parser import HTMLParser

import jinja2
import pytest

from ansible_collections.secops.m365_defender.plugins.filter.incident_report import incident_report

TEMPLATES = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', '..', '..', 'roles', 'incident_report', 'templates')
NOW = datetime.datetime(2026, 5, 1, 12, 0, 0, tzinfo=datetime.timezone.utc)

# Hostile text in every field the page shows (TENANT, TENANT_ID and DEVICE are not the shared constants).
TITLE = '<img src=x onerror=alert(1)>'
ASSIGNED = '"><script>alert(2)</script>'
TENANT = '<svg onload=alert(3)>'
REASON = '</td><script>alert(4)</script>'
STATUS = '" onclick="alert(5)'
REPORT_TITLE = '</title><script>alert(6)</script>'
TENANT_ID = 'x" onmouseover="alert(7)'
DEVICE = '<iframe src=//evil.example>'
USER = '<object data=x>@contoso.example'
SOURCE = '<embed src=x>'
ALERTS = [{'id': 'a1', 'serviceSource': SOURCE, 'evidence': [
    {'@odata.type': '#microsoft.graph.security.deviceEvidence', 'deviceDnsName': DEVICE, 'riskScore': '<b>high</b>'},
    {'@odata.type': '#microsoft.graph.security.userEvidence', 'userAccount': {'userPrincipalName': USER}}]}]


def incident(incident_id, **fields):
    base = {'id': incident_id, 'displayName': 'Incident %s' % incident_id, 'severity': 'high', 'status': 'active',
            'createdDateTime': '2026-04-2%sT10:00:00Z' % incident_id, 'lastUpdateDateTime': '2026-04-29T10:00:00Z'}
    base.update(fields)
    return base


class Page(HTMLParser):
    """The tags, attributes and text of a page, as a browser's parser sees them."""

    def __init__(self, html):
        HTMLParser.__init__(self, convert_charrefs=True)
        self.tags, self.attributes, self.text = [], [], []
        self.feed(html)
        self.close()

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.attributes.extend(attrs)

    def handle_data(self, data):
        self.text.append(data)


@pytest.fixture(scope='module')
def page():
    tenants = [
        {'name': TENANT, 'tenant_id': TENANT_ID, 'cloud': 'global', 'result': {'api': 'graph', 'complete': True, 'incidents': [
            incident('1', displayName=TITLE, assignedTo=ASSIGNED, incidentWebUrl='javascript:alert(8)', alerts=ALERTS),
            incident('2', status=STATUS, severity=STATUS),
        ]}},
        {'name': 'northwind', 'tenant_id': None, 'result': {'failed': True, 'msg': REASON, 'admin_consent_url': 'javascript:alert(9)'}},
    ]
    return Page(render(incident_report(tenants, title=REPORT_TITLE, now=NOW)))


def render(report):
    environment = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), trim_blocks=True, undefined=jinja2.StrictUndefined)
    return environment.get_template('incident_report.html.j2').render(incident_report_data=report)


def test_hostile_values_are_text(page):
    text = ''.join(page.text)
    for value in (TITLE, ASSIGNED, TENANT, REASON, STATUS, REPORT_TITLE, TENANT_ID, DEVICE, USER, SOURCE, '<b>high</b>'):
        assert value in text


def test_no_markup_from_the_data(page):
    assert not set(page.tags) & {'script', 'img', 'iframe', 'object', 'embed'}
    assert [name for name, value in page.attributes if name.startswith('on')] == []
    assert page.tags.count('svg') == 1  # the chart's


def test_links_are_https_only(page):
    hrefs = [value for name, value in page.attributes if name == 'href']
    assert hrefs and all(href.startswith('https://security.microsoft.com/incident2/') for href in hrefs)
    assert not any('javascript:' in (value or '') for name, value in page.attributes)


def rows(html, table_id):
    """The text of each body row of a table, cell by cell."""
    class Table(HTMLParser):
        def __init__(self):
            HTMLParser.__init__(self, convert_charrefs=True)
            self.inside, self.section, self.rows = False, None, []

        def handle_starttag(self, tag, attrs):
            if tag == 'table':
                self.inside = dict(attrs).get('id') == table_id
            elif self.inside and tag in ('thead', 'tbody', 'tfoot'):
                self.section = tag
            elif self.inside and self.section == 'tbody' and tag == 'tr':
                self.rows.append([])
            elif self.inside and self.section == 'tbody' and tag == 'td':
                self.rows[-1].append('')

        def handle_endtag(self, tag):
            if tag == 'table':
                self.inside = False

        def handle_data(self, data):
            if self.inside and self.section == 'tbody' and self.rows and self.rows[-1]:
                self.rows[-1][-1] += data.strip()
    parser = Table()
    parser.feed(html)
    return parser.rows


def test_the_page_shows_alert_sources_and_the_top_devices_and_users():
    alerts = [{'id': 'a%d' % number, 'serviceSource': source, 'evidence': [
        {'@odata.type': '#microsoft.graph.security.deviceEvidence', 'deviceDnsName': 'ws-%d.contoso.example' % number,
         'mdeDeviceId': 'mde-%d' % number, 'riskScore': 'medium'},
        {'@odata.type': '#microsoft.graph.security.userEvidence', 'userAccount': {'userPrincipalName': 'ann@contoso.example'}}]}
        for number, source in enumerate(['microsoftDefenderForEndpoint', 'microsoftDefenderForEndpoint',
                                         'microsoftDefenderForOffice365'])]
    tenants = [{'name': 'contoso', 'tenant_id': 't', 'result': {'api': 'graph', 'incidents': [
        incident('1', alerts=alerts[:2]), incident('2', alerts=alerts[2:])]}}]
    html = render(incident_report(tenants, now=NOW, top_entities=2))
    assert rows(html, 'alerts-by-source') == [['microsoftDefenderForEndpoint', '2'], ['microsoftDefenderForOffice365', '1']]
    assert rows(html, 'top-devices') == [['ws-0.contoso.example', 'medium', '1', 'contoso'],
                                         ['ws-1.contoso.example', 'medium', '1', 'contoso']]
    assert rows(html, 'top-users') == [['ann@contoso.example', '2', 'contoso']]
    assert [row[-1] for row in rows(html, 'oldest-open')] == ['microsoftDefenderForEndpoint', 'microsoftDefenderForOffice365']


def test_without_alerts_the_page_says_so():
    html = render(incident_report([{'name': 'contoso', 'result': {'api': 'graph', 'incidents': [incident('1')]}}], now=NOW))
    for element in ('alerts-by-source-none', 'top-devices-none', 'top-users-none'):
        assert 'id="%s"' % element in html
