"""Microsoft's Graph SDK for Python and azure-identity, set up against the sandbox as a user of the SDK would set
them up for a private cloud (used by conftest.py and the tests).

- azure-identity: ``ClientSecretCredential`` / ``CertificateCredential`` with ``authority=`` the sandbox,
  ``disable_instance_discovery=True`` (else it asks login.microsoftonline.com about the unknown host) and
  ``connection_verify=`` the sandbox's CA (passed per request, so it wins over REQUESTS_CA_BUNDLE).
- The SDK: the httpx client that ``GraphClientFactory`` would make, but trusting the sandbox's CA and not the
  environment, with the SDK's default middleware; the request adapter's base URL is the sandbox's ``/v1.0``. The
  client records every answer's raw JSON, which the tests compare with what the SDK parsed.
"""
from __future__ import annotations

import collections
import json
import ssl

import httpx
from azure.identity import CertificateCredential, ClientSecretCredential
from kiota_authentication_azure.azure_identity_authentication_provider import AzureIdentityAuthenticationProvider
from kiota_http.kiota_client_factory import DEFAULT_CONNECTION_TIMEOUT, DEFAULT_REQUEST_TIMEOUT
from msgraph import GraphServiceClient
from msgraph.graph_request_adapter import GraphRequestAdapter, options as SDK_OPTIONS
from msgraph_core import GraphClientFactory

GRAPH_SCOPE = 'https://graph.microsoft.com/.default'

# One HTTP exchange as the SDK's client saw it: the JSON body sent and received (None when not JSON).
Exchange = collections.namedtuple('Exchange', 'method url status sent received')


def parse_json(data):
    """A body's JSON, or None."""
    try:
        return json.loads(data) if data else None
    except ValueError:
        return None


class Graph:
    """A GraphServiceClient for one credential, and the exchanges it made."""

    def __init__(self, credential, info, loop):
        self.loop = loop
        self.exchanges = []
        http = httpx.AsyncClient(verify=ssl.create_default_context(cafile=info['ca_path']), trust_env=False, http2=True,
                                 timeout=httpx.Timeout(DEFAULT_REQUEST_TIMEOUT, connect=DEFAULT_CONNECTION_TIMEOUT),
                                 event_hooks={'response': [self.record]})
        self.http = GraphClientFactory.create_with_default_middleware(client=http, options=SDK_OPTIONS)
        self.adapter = GraphRequestAdapter(AzureIdentityAuthenticationProvider(credential, scopes=[GRAPH_SCOPE]), client=self.http)
        self.adapter.base_url = info['base_url'] + '/v1.0'
        self.client = GraphServiceClient(request_adapter=self.adapter)

    async def record(self, response):
        """httpx response hook: keep the raw JSON of both directions."""
        await response.aread()
        request = response.request
        self.exchanges.append(Exchange(request.method, str(request.url), response.status_code,
                                       parse_json(request.content), parse_json(response.content)))

    def run(self, awaitable):
        """Run one SDK call to its end."""
        return self.loop.run_until_complete(awaitable)

    def last(self, method='GET'):
        """The last exchange with that method."""
        return next(exchange for exchange in reversed(self.exchanges) if exchange.method == method)

    def close(self):
        self.run(self.http.aclose())


def every_page(graph, builder, config=None):
    """Every item of a listing, following @odata.nextLink with the SDK's with_url request builder; [(model, raw
    JSON)] in the answers' order, each model checked to be the raw item it was read from."""
    page = graph.run(builder.get(config))
    read = []
    while True:
        raw = graph.last().received['value']
        assert [item.id for item in page.value] == [item['id'] for item in raw]
        read.extend(zip(page.value, raw))
        if not page.odata_next_link:
            return read
        page = graph.run(builder.with_url(page.odata_next_link).get())


def admin_get(info, path):
    """GET from the sandbox's admin API (no token): the truth the tests compare with, independent of Graph."""
    with httpx.Client(verify=ssl.create_default_context(cafile=info['ca_path']), trust_env=False) as http:
        response = http.get(info['admin_url'] + path, timeout=60)
        response.raise_for_status()
        return response.json()


def tenant_id(sandbox, name):
    """The id of a tenant of sandbox.json, by name."""
    return next(tenant['id'] for tenant in sandbox['tenants'] if tenant['name'] == name)


def secret_credential(sandbox, app, tenant, secret=None):
    """azure-identity's ClientSecretCredential pointed at the sandbox."""
    secret = secret or next(item['value'] for item in app['secrets'] if not item['expired'])
    return ClientSecretCredential(tenant_id(sandbox, tenant), app['client_id'], secret, authority=sandbox['base_url'],
                                  disable_instance_discovery=True, connection_verify=sandbox['ca_path'])


def certificate_credential(sandbox, app, tenant, send_certificate_chain=False):
    """azure-identity's CertificateCredential (key and certificate in one PEM file) pointed at the sandbox."""
    return CertificateCredential(tenant_id(sandbox, tenant), app['client_id'], certificate_path=app['certificate']['path'],
                                 send_certificate_chain=send_certificate_chain, authority=sandbox['base_url'],
                                 disable_instance_discovery=True, connection_verify=sandbox['ca_path'])
