"""Kubernetes names as they appear in principals: namespaces, service accounts, service-account users.

A namespace is an RFC 1123 label; a service-account name is an RFC 1123 subdomain (dots allowed). The API
server names a service account `system:serviceaccount:<namespace>:<name>` (the `sub` of its tokens).
"""

from __future__ import annotations

import re

NAMESPACE = re.compile(r"[a-z0-9](?:[-a-z0-9]{0,61}[a-z0-9])?")
SERVICE_ACCOUNT = re.compile(r"[a-z0-9](?:[-.a-z0-9]{0,251}[a-z0-9])?")
SERVICE_ACCOUNT_USER = "system:serviceaccount:"


def is_namespace(name: str) -> bool:
    return NAMESPACE.fullmatch(name) is not None


def is_service_account(name: str) -> bool:
    return SERVICE_ACCOUNT.fullmatch(name) is not None


def service_account_of(username: str) -> tuple[str, str] | None:
    """(namespace, name) of `system:serviceaccount:<namespace>:<name>`, or None for any other string."""
    if not username.startswith(SERVICE_ACCOUNT_USER):
        return None
    namespace, sep, name = username[len(SERVICE_ACCOUNT_USER) :].partition(":")
    if not (sep and is_namespace(namespace) and is_service_account(name)):
        return None
    return namespace, name
