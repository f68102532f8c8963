"""Permission checks of the APIs: app roles (``roles``) for app-only tokens, scopes (``scp``) for delegated ones."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional


@dataclass(frozen=True)
class Permission:
    """The application permissions and the delegated permissions that each allow an operation (any one will do)."""

    application: tuple
    delegated: Optional[tuple] = None  # None: the same names as the application permissions (Graph)

    @property
    def scopes(self) -> tuple:
        return self.application if self.delegated is None else self.delegated


def is_delegated(claims: dict) -> bool:
    return "scp" in claims


def held(claims: dict) -> list:
    """The permissions a token carries: its scopes if delegated, else its app roles."""
    if is_delegated(claims):
        return str(claims.get("scp") or "").split()
    return list(claims.get("roles") or [])


def allows(claims: dict, permission: Permission) -> bool:
    accepted = permission.scopes if is_delegated(claims) else permission.application
    return bool(set(held(claims)) & set(accepted))
