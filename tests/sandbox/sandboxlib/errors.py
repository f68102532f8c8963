"""Error bodies in the shape of each service: Entra ID (AADSTS), Microsoft Graph and the Defender API."""
from __future__ import annotations

import http
import uuid
from typing import Optional

from . import timefmt
from .httpd import ApiError, Request, Response

IDENTITY, GRAPH, DEFENDER, ADMIN = "identity", "graph", "defender", "admin"

GRAPH_JSON = "application/json; odata.metadata=minimal; odata.streaming=true; IEEE754Compatible=false; charset=utf-8"
DEFENDER_JSON = "application/json; odata.metadata=minimal; odata.streaming=true; charset=utf-8"


def family_of_path(path: str) -> str:
    """Which service a path belongs to, for answering requests that match no route."""
    if path.startswith("/_sandbox/"):
        return ADMIN
    if path.startswith(("/v1.0/", "/beta/")):
        return GRAPH
    if path.startswith("/api/"):
        return DEFENDER
    return IDENTITY


def entra_error(request: Request, status: int, error: str, code: int, message: str,
                extra: Optional[dict] = None) -> Response:
    """``{"error": ..., "error_description": "AADSTSnnn: ...\\r\\nTrace ID: ...", "error_codes": [nnn], ...}``.

    ``extra``: more fields, such as ``suberror`` or ``claims``.
    """
    stamp = timefmt.entra(timefmt.utcnow())
    correlation_id = request.client_request_id or str(uuid.uuid4())
    description = (f"AADSTS{code}: {message}\r\nTrace ID: {request.request_id}\r\n"
                   f"Correlation ID: {correlation_id}\r\nTimestamp: {stamp}")
    body = {"error": error, "error_description": description, "error_codes": [code], "timestamp": stamp,
            "trace_id": request.request_id, "correlation_id": correlation_id,
            "error_uri": f"https://login.microsoftonline.com/error?code={code}", **(extra or {})}
    return Response.json(status, body, {"Cache-Control": "no-store, no-cache", "Pragma": "no-cache",
                                        "x-ms-request-id": request.request_id})


def entra_failure(request: Request, status: int, error: str, code: int, message: str,
                  extra: Optional[dict] = None) -> ApiError:
    """An Entra ID error to raise from a handler."""
    return ApiError(entra_error(request, status, error, code, message, extra))


def admin_failure(status: int, message: str) -> ApiError:
    """An error of the admin API (``/_sandbox/``) to raise from a handler."""
    return ApiError(Response.json(status, {"error": {"code": "SandboxAdmin", "message": message}}))


def graph_error(request: Request, status: int, code: str, message: str,
                headers: Optional[dict] = None) -> Response:
    inner = {"date": timefmt.graph_inner_error(timefmt.utcnow()), "request-id": request.request_id,
             "client-request-id": request.client_request_id or request.request_id}
    body = {"error": {"code": code, "message": message, "innerError": inner}}
    return Response.json(status, body, headers, GRAPH_JSON)


def defender_error(request: Request, status: int, code: str, message: str,
                   headers: Optional[dict] = None) -> Response:
    body = {"error": {"code": code, "message": message, "target": request.request_id}}
    return Response.json(status, body, headers, DEFENDER_JSON)


def not_found(request: Request, family: str) -> Response:
    message = f"No such endpoint in the sandbox: {request.method} {request.path}"
    if family == IDENTITY:
        return entra_error(request, 404, "invalid_request", 900561, message)
    return _api_error(family, request, 404, "NotFound", message)


def default_fault(request: Request, family: str, status: int, headers: dict) -> Response:
    """The body a real service would send with ``status``, for injected faults that bring none."""
    if status == 429:
        return throttled(request, family, headers)
    phrase = _phrase(status)
    if family == IDENTITY:
        error = "temporarily_unavailable" if status >= 500 else "invalid_request"
        return _with_headers(entra_error(request, status, error, 90033 if status >= 500 else 900144,
                                         f"{phrase} (fault injected by the sandbox)."), headers)
    code = phrase.title().replace(" ", "").replace("-", "")
    return _api_error(family, request, status, code, f"{phrase} (fault injected by the sandbox).", headers)


def internal_error(request: Request, family: str) -> Response:
    """A bug in the sandbox itself (the traceback is in its log)."""
    message = "The sandbox failed to handle this request; see its log."
    if family == IDENTITY:
        return entra_error(request, 500, "server_error", 90033, message)
    return _api_error(family, request, 500, "InternalServerError", message)


def throttled(request: Request, family: str, headers: dict, quota: str = "50 per 00:01:00") -> Response:
    """429 in the family's shape; the Defender API's message names the ``quota`` (e.g. "45 per 00:01:00")."""
    if family == GRAPH:
        return graph_error(request, 429, "TooManyRequests", "Too many requests.", headers)
    if family == IDENTITY:
        return _with_headers(entra_error(request, 429, "temporarily_unavailable", 50196,
                                         "The server terminated an operation because it encountered a client "
                                         "request loop. Please contact your app vendor."), headers)
    return defender_error(request, 429, "429", f"API calls quota exceeded! maximum allowed {quota}", headers)


def _api_error(family: str, request: Request, status: int, code: str, message: str,
               headers: Optional[dict] = None) -> Response:
    if family == DEFENDER:
        return defender_error(request, status, code, message, headers)
    if family == GRAPH:
        return graph_error(request, status, code, message, headers)
    return Response.json(status, {"error": {"code": code, "message": message}}, headers)


def _with_headers(response: Response, headers: dict) -> Response:
    response.headers.update(headers)
    return response


def _phrase(status: int) -> str:
    try:
        return http.HTTPStatus(status).phrase
    except ValueError:
        return f"HTTP {status}"
