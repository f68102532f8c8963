"""Scenario 1 (c), the floor: requests and the same paging, no Ansible.

    python bare_fetch.py VARS.json REPORT.json

Signs in with client credentials, then reads every page (Graph: @odata.nextLink; Defender: $skip until a
page is short). With "retry_429" in the vars it waits Retry-After and tries again on 429 (scenario 4).
"""

import json
import sys
import time

import requests


def main():
    with open(sys.argv[1], encoding='utf-8') as handle:
        conf = json.load(handle)
    base, api = conf['bench_base_url'], conf['bench_api']
    session = requests.Session()
    session.trust_env = False
    session.verify = conf['bench_ca_path']
    scope = 'https://graph.microsoft.com/.default' if api == 'graph' else 'https://api.security.microsoft.com/.default'
    token = session.post('%s/%s/oauth2/v2.0/token' % (base, conf['bench_tenant_id']), data={
        'grant_type': 'client_credentials', 'client_id': conf['bench_client_id'],
        'client_secret': conf['bench_client_secret'], 'scope': scope}, timeout=30)
    token.raise_for_status()
    session.headers['Authorization'] = 'Bearer ' + token.json()['access_token']
    incidents, throttled, waited = [], 0, 0.0
    if api == 'graph':
        url, params = base + '/v1.0/security/incidents', {'$top': 50}
    else:
        url, params = base + '/api/incidents', {'$top': 100, '$skip': 0}
    while url:
        response = session.get(url, params=params, timeout=30)
        if response.status_code == 429 and conf.get('retry_429'):
            throttled += 1
            delay = float(response.headers.get('Retry-After') or 1)
            waited += delay
            time.sleep(delay)
            continue
        response.raise_for_status()
        page = response.json()
        incidents.extend(page['value'])
        if api == 'graph':
            url, params = page.get('@odata.nextLink'), None
        elif len(page['value']) == 100:
            params = {'$top': 100, '$skip': params['$skip'] + 100}
        else:
            url = None
    with open(sys.argv[2], 'w', encoding='utf-8') as handle:
        json.dump({'count': len(incidents), 'throttled': throttled, 'wait_seconds': waited}, handle)


if __name__ == '__main__':
    main()
