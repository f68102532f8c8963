"""Signing in with azure-identity (client secret, certificate) and calling Graph through the SDK with its tokens."""
from __future__ import annotations

import base64
import json
import ssl

import httpx
import pytest
from azure.core.exceptions import ClientAuthenticationError
from kiota_abstractions.base_request_configuration import RequestConfiguration
from kiota_authentication_azure.azure_identity_authentication_provider import AzureIdentityAuthenticationProvider
from msgraph import GraphServiceClient
from msgraph.generated.security.incidents.incidents_request_builder import IncidentsRequestBuilder
from msgraph.graph_request_adapter import GraphRequestAdapter
from msgraph_core import GraphClientFactory

from graphsdk import GRAPH_SCOPE, admin_get, certificate_credential, secret_credential, tenant_id


def claims(token):
    """An access token's claims (not verified: the sandbox's API does that)."""
    payload = token.split('.')[1]
    return json.loads(base64.urlsafe_b64decode(payload + '=' * (-len(payload) % 4)))


def first_page(graph, top=3):
    """The first incidents through the SDK."""
    query = IncidentsRequestBuilder.IncidentsRequestBuilderGetQueryParameters(top=top)
    return graph.run(graph.client.security.incidents.get(RequestConfiguration(query_parameters=query)))


def credential_counts(sandbox):
    return admin_get(sandbox, '/counters')['token_requests_by_credential']


@pytest.mark.parametrize('kind', ['secret', 'certificate', 'certificate-chain'])
def test_sign_in_and_read(sandbox, app, graph_for, store, kind):
    """Each credential gets a Graph token for the right tenant and app from the sandbox's token endpoint, and the SDK
    reads incidents with it."""
    if kind == 'secret':
        credential, proof, appidacr = secret_credential(sandbox, app, 'Fabrikam'), 'client_secret', '1'
    else:
        credential = certificate_credential(sandbox, app, 'Fabrikam', send_certificate_chain=kind == 'certificate-chain')
        proof, appidacr = 'client_assertion', '2'
    before = credential_counts(sandbox).get(proof, 0)
    token = credential.get_token(GRAPH_SCOPE)
    assert credential_counts(sandbox).get(proof, 0) == before + 1
    got = claims(token.token)
    assert (got['aud'], got['tid'], got['appid'], got['appidacr']) == (
        'https://graph.microsoft.com', tenant_id(sandbox, 'Fabrikam'), app['client_id'], appidacr)
    assert 'SecurityIncident.ReadWrite.All' in got['roles']
    page = first_page(graph_for('Fabrikam', credential))
    assert [incident.id for incident in page.value] == [incident['id'] for incident in store('Fabrikam')[:3]]


def test_wrong_secret_is_refused(sandbox, app):
    """azure-identity reads the sandbox's Entra ID error: the AADSTS code reaches the caller."""
    credential = secret_credential(sandbox, app, 'Contoso', secret='not-the-secret')
    with pytest.raises(ClientAuthenticationError, match='AADSTS7000215'):
        credential.get_token(GRAPH_SCOPE)


def test_no_consent_is_refused(sandbox, app):
    """soc-responder has no consent in Northwind: AADSTS700016, as Entra ID says it."""
    credential = secret_credential(sandbox, app, 'Northwind')
    with pytest.raises(ClientAuthenticationError, match='AADSTS700016'):
        credential.get_token(GRAPH_SCOPE)


def test_sdk_default_base_url(sandbox, app, graph, loop):
    """The base URL set where the SDK's own GraphClientFactory sets it: on the httpx client. httpx keeps a base URL
    with a trailing slash, so the SDK then asks for `/v1.0//security/incidents` — as it does on Graph, which
    answers it like `/v1.0/security/incidents`."""
    http = httpx.AsyncClient(verify=ssl.create_default_context(cafile=sandbox['ca_path']), trust_env=False,
                             base_url=sandbox['base_url'] + '/v1.0')
    http = GraphClientFactory.create_with_default_middleware(client=http)
    provider = AzureIdentityAuthenticationProvider(secret_credential(sandbox, app, 'Contoso'), scopes=[GRAPH_SCOPE])
    client = GraphServiceClient(request_adapter=GraphRequestAdapter(provider, client=http))
    try:
        query = IncidentsRequestBuilder.IncidentsRequestBuilderGetQueryParameters(top=3)
        page = loop.run_until_complete(client.security.incidents.get(RequestConfiguration(query_parameters=query)))
    finally:
        loop.run_until_complete(http.aclose())
    assert [incident.id for incident in page.value] == [incident.id for incident in first_page(graph).value]
