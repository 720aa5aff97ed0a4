"""Principals are unforgeable across credential kinds (issue #16 item 2): the rule and its exact errors."""

from __future__ import annotations

import pytest
from meshgate.errors import AuthenticationError
from meshgate.principal.kinds import (
    PRODUCES,
    CredentialKind,
    Namespace,
    check_principal,
    namespace_of,
    sso_template_problem,
    superuser_problem,
)

BROKER = "spiffe://cluster.local/ns/pulsar/sa/pulsar-broker"
K = CredentialKind


@pytest.mark.parametrize(
    ("principal", "namespace"),
    [
        (BROKER, Namespace.SPIFFE),
        ("SPIFFE://cluster.local/ns/pulsar/sa/pulsar-broker", Namespace.SPIFFE),
        ("spiffe:cluster.local", Namespace.SPIFFE),
        ("oidc:https://sso#alice", Namespace.SSO),
        ("OIDC:https://sso#alice", Namespace.PLAIN),
        ("alice@example.com", Namespace.PLAIN),
        ("", Namespace.PLAIN),
    ],
)
def test_namespace_is_read_off_the_text(principal: str, namespace: Namespace) -> None:
    assert namespace_of(principal) is namespace


@pytest.mark.parametrize(
    ("kind", "principal"),
    [
        (K.X509_SVID, "spiffe://example.org/workload/billing"),
        (K.LINKERD_CERT, BROKER),
        (K.L5D_HEADER, BROKER),
        (K.K8S_SA_TOKEN, BROKER),  # a workload's own token names it, super-user or not
        (K.OIDC, "oidc:https://sso#alice"),
        (K.OIDC, f"oidc:https://sso#{BROKER}"),
        (K.ROLE, "ops-dashboard"),
    ],
)
def test_each_kind_produces_its_own_namespace(kind: CredentialKind, principal: str) -> None:
    assert check_principal(kind, principal, superusers={BROKER}) == principal


CROSSING = [
    (
        K.OIDC,
        BROKER,
        f"identity: oidc credentials may not produce {BROKER!r}: it is in the spiffe namespace, "
        "and oidc principals are oidc:...",
    ),
    (
        K.OIDC,
        "alice",
        "identity: oidc credentials may not produce 'alice': it is in the plain namespace, "
        "and oidc principals are oidc:...",
    ),
    (
        K.K8S_SA_TOKEN,
        "oidc:https://sso#alice",
        "identity: k8s_sa_token credentials may not produce 'oidc:https://sso#alice': it is in the sso "
        "namespace, and k8s_sa_token principals are spiffe://<trust-domain>/...",
    ),
    (
        K.ROLE,
        BROKER,
        f"identity: role credentials may not produce {BROKER!r}: it is in the spiffe namespace, and role "
        "principals are neither spiffe:... nor oidc:...",
    ),
    (
        K.ROLE,
        "oidc:https://sso#alice",
        "identity: role credentials may not produce 'oidc:https://sso#alice': it is in the sso namespace, "
        "and role principals are neither spiffe:... nor oidc:...",
    ),
    (
        K.OIDC,
        "oidc:https://sso#root",
        "identity: SSO principal 'oidc:https://sso#root' is a configured super-user; "
        "an SSO login can never be one",
    ),
    (
        K.OIDC,
        "x" * 300,
        f"identity: oidc credentials may not produce {'x' * 256 + '...'!r}: it is in the plain namespace, "
        "and oidc principals are oidc:...",
    ),
]


@pytest.mark.parametrize(("kind", "principal", "message"), CROSSING)
def test_crossing_is_refused_with_its_code(kind: CredentialKind, principal: str, message: str) -> None:
    with pytest.raises(AuthenticationError) as caught:
        check_principal(kind, principal, superusers={"oidc:https://sso#root", BROKER})
    assert caught.value.code == "principal_crosses_kind"
    assert caught.value.message == message


def test_every_kind_has_a_namespace() -> None:
    example = {Namespace.SPIFFE: BROKER, Namespace.SSO: "oidc:x", Namespace.PLAIN: "r"}
    for kind in CredentialKind:
        assert check_principal(kind, example[PRODUCES[kind]]) == example[PRODUCES[kind]]


TEMPLATE_ERROR = (
    "does not start with the literal 'oidc:': SSO principals live in their own namespace, so that no token "
    "can name a workload (spiffe://...), another provider's role or a super-user; "
    'e.g. "oidc:{iss}#{sub}"'
)


@pytest.mark.parametrize(
    ("template", "fixed_start", "problem"),
    [
        ("oidc:{iss}#{sub}", "oidc:", None),
        ("oidc:{email}", "oidc:", None),
        ("{preferred_username}", "", f"'{{preferred_username}}' {TEMPLATE_ERROR}"),
        ("user:{email}", "user:", f"'user:{{email}}' {TEMPLATE_ERROR}"),
        ("spiffe://td/ns/{ns}/sa/x", "spiffe://td/ns/", f"'spiffe://td/ns/{{ns}}/sa/x' {TEMPLATE_ERROR}"),
        ("oid{c}:x", "oid", f"'oid{{c}}:x' {TEMPLATE_ERROR}"),
    ],
)
def test_sso_templates_must_start_in_the_sso_namespace(
    template: str, fixed_start: str, problem: str | None
) -> None:
    assert sso_template_problem(template, fixed_start) == problem


def test_no_sso_principal_may_be_a_superuser() -> None:
    assert superuser_problem(BROKER) is None
    assert superuser_problem("broker-admin") is None
    assert superuser_problem("oidc:https://sso#root") == (
        "'oidc:https://sso#root' is an SSO principal (oidc:...); an SSO login can never be a super-user: "
        "grant it what it needs in policy (the `superuser` action answers the broker's isSuperUser)"
    )
