"""Subjects: SPIFFE IDs and patterns with captures, Linkerd names, OIDC claims, plain roles."""

from __future__ import annotations

import pytest
from meshgate.errors import PolicyError
from meshgate.policy.oidcsubject import OidcSubject, oidc_subject
from meshgate.policy.subjects import (
    ExactSubject,
    SpiffePattern,
    linkerd_subject,
    role_subject,
    spiffe_subject,
)
from meshgate.principal import LinkerdNaming, linkerd_to_spiffe

NAMING = LinkerdNaming(trust_domain="mesh.test", control_plane_namespace="linkerd")
NO_ATTRS: dict[str, tuple[str, ...]] = {}


def match(subject_text: str, principal: str) -> dict[str, str] | None:
    found = spiffe_subject(subject_text).match(principal, "", NO_ATTRS)
    return None if found is None else dict(found)


def test_exact_spiffe_id_is_indexed_as_exact() -> None:
    subject = spiffe_subject("spiffe://td/ns/a/sa/b")
    assert isinstance(subject, ExactSubject)
    assert subject.index_key == ("exact", "spiffe://td/ns/a/sa/b")


@pytest.mark.parametrize(
    ("pattern", "principal", "expected"),
    [
        ("spiffe://td/ns/*/sa/*", "spiffe://td/ns/a/sa/b", {}),
        ("spiffe://td/ns/{ns}/sa/{sa}", "spiffe://td/ns/a/sa/b", {"ns": "a", "sa": "b"}),
        ("spiffe://td/ns/{ns}/sa/writer-*", "spiffe://td/ns/a/sa/writer-2", {"ns": "a"}),
        ("spiffe://td/ns/{ns}/sa/writer-*", "spiffe://td/ns/a/sa/reader", None),
        ("spiffe://*/ns/a/sa/*", "spiffe://other/ns/a/sa/b", {}),
        ("spiffe://td/ns/*/sa/*", "spiffe://td/ns/a/sa/b/c", None),
        ("spiffe://td/ns/*/sa/*", "spiffe://td2/ns/a/sa/b", None),
        ("spiffe://td/ns/*/sa/*", "role-name", None),
        # Each kind of segment step: a bare `*` also matches an empty segment, a capture never does.
        ("spiffe://td/ns/*/sa/x", "spiffe://td/ns//sa/x", {}),
        ("spiffe://td/ns/{ns}/sa/x", "spiffe://td/ns//sa/x", None),
        ("spiffe://td/ns/a*b*c/sa/*", "spiffe://td/ns/abxc/sa/y", {}),
        ("spiffe://td/ns/a*b*c/sa/*", "spiffe://td/ns/acb/sa/y", None),
        ("spiffe://td/ns/*/sa/*", "spiffe://TD/ns/a/sa/b", None),
    ],
)
def test_spiffe_patterns(pattern: str, principal: str, expected: dict[str, str] | None) -> None:
    assert match(pattern, principal) == expected


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("td/ns/a", "'td/ns/a' is not a SPIFFE ID: it must start with spiffe://"),
        (
            "spiffe://td/ns/x-{ns}/sa/*",
            "'spiffe://td/ns/x-{ns}/sa/*': a capture must be a whole path segment, like /ns/{ns}/",
        ),
        ("spiffe://td/ns/{ns}/sa/{ns}", "'spiffe://td/ns/{ns}/sa/{ns}' captures the same name twice"),
        (
            "spiffe://td/ns/{NS}/sa/a",
            "'{NS}' has a malformed capture: use {name} with lower-case letters, digits, '_'",
        ),
        ("spiffe://td//sa/a", "empty name segment"),
    ],
)
def test_spiffe_errors(text: str, error: str) -> None:
    with pytest.raises(PolicyError) as info:
        spiffe_subject(text)
    assert info.value.message == error


@pytest.mark.parametrize(
    ("name", "spiffe"),
    [
        ("web.shop.serviceaccount.identity.linkerd.mesh.test", "spiffe://mesh.test/ns/shop/sa/web"),
        ("Web.Shop.serviceaccount.identity.linkerd.mesh.test.", "spiffe://mesh.test/ns/shop/sa/web"),
        ("a.b.shop.serviceaccount.identity.linkerd.mesh.test", "spiffe://mesh.test/ns/shop/sa/a.b"),
        ("*.shop.serviceaccount.identity.linkerd.mesh.test", "spiffe://mesh.test/ns/shop/sa/*"),
        ("*.serviceaccount.identity.linkerd.other.test", "spiffe://other.test/ns/*/sa/*"),
        ("*.identity.linkerd.mesh.test", "spiffe://mesh.test/ns/*/sa/*"),
        ("*.mesh.test", "spiffe://mesh.test/ns/*/sa/*"),
        ("*.test", "spiffe://mesh.test/ns/*/sa/*"),
        ("*", "spiffe://mesh.test/ns/*/sa/*"),
    ],
)
def test_linkerd_names_translate_to_spiffe(name: str, spiffe: str) -> None:
    assert linkerd_to_spiffe(name, NAMING) == spiffe


NOT_NAMED = "does not name Linkerd identities of control plane 'linkerd' in trust domain 'mesh.test'"
NOT_LINKERD = "is not a Linkerd identity: expected <sa>.<ns>.serviceaccount.identity.<cp>.<td>"


@pytest.mark.parametrize(
    ("name", "error"),
    [
        ("*.other.test", NOT_NAMED),
        ("shop.example.com", NOT_NAMED),
        ("web.serviceaccount.identity.linkerd.mesh.test", NOT_LINKERD),
        ("web.*.serviceaccount.identity.linkerd.mesh.test", NOT_LINKERD),
        ("web.shop.serviceaccount.identity.linkerd", "is not a Linkerd identity: it has no trust domain"),
    ],
)
def test_linkerd_errors(name: str, error: str) -> None:
    with pytest.raises(PolicyError) as info:
        linkerd_to_spiffe(name, NAMING)
    assert info.value.message == f"{name!r} {error}"


def test_linkerd_subjects_keep_their_text_and_index_kind() -> None:
    exact = linkerd_subject("web.shop.serviceaccount.identity.linkerd.mesh.test", NAMING)
    assert exact.index_key == ("exact", "spiffe://mesh.test/ns/shop/sa/web")
    pattern = linkerd_subject("*.shop.serviceaccount.identity.linkerd.mesh.test", NAMING)
    assert isinstance(pattern, SpiffePattern)
    assert pattern.text == "linkerd:*.shop.serviceaccount.identity.linkerd.mesh.test"
    assert pattern.match("spiffe://mesh.test/ns/shop/sa/any", "", NO_ATTRS) == {}
    with pytest.raises(PolicyError):
        linkerd_subject("{sa}.shop.serviceaccount.identity.linkerd.mesh.test", NAMING)


def test_a_pattern_gives_its_segments_again_from_what_it_keeps() -> None:
    """A SPIFFE pattern keeps how each segment is checked, not the segments: who-can and lint get them
    parsed again, those of the translation for a Linkerd name."""
    pattern = spiffe_subject("spiffe://td/ns/{ns}/sa/web-*")
    assert isinstance(pattern, SpiffePattern)
    assert [s.text for s in pattern.segments] == ["td", "ns", "{ns}", "sa", "web-*"]
    assert pattern.specialize({"ns": "shop"}) == "spiffe://td/ns/shop/sa/web-*"
    linkerd = linkerd_subject("*.shop.serviceaccount.identity.linkerd.mesh.test", NAMING)
    assert isinstance(linkerd, SpiffePattern)
    assert [s.text for s in linkerd.segments] == ["mesh.test", "ns", "shop", "sa", "*"]
    assert linkerd.specialize({}) == "spiffe://mesh.test/ns/shop/sa/*"


def test_identity_naming_object_is_accepted() -> None:
    identity = pytest.importorskip("meshgate.principal")
    naming = identity.LinkerdNaming(control_plane_namespace="linkerd", trust_domain="mesh.test")
    assert linkerd_to_spiffe("*", naming) == "spiffe://mesh.test/ns/*/sa/*"


def test_oidc_subject() -> None:
    subject = oidc_subject({"issuer": "https://sso", "claim": "groups", "values": ["a", "b"]})
    assert subject.match("x", "https://sso", {"groups": ("c", "b")}) == {}
    assert subject.match("x", "https://sso", {"groups": ("c",)}) is None
    assert subject.match("x", "https://other", {"groups": ("a",)}) is None
    assert subject.match("x", "https://sso", {}) is None
    assert OidcSubject("https://sso").match("x", "https://sso", {}) == {}
    assert subject.text == "oidc:https://sso[groups=a,b]"
    assert subject.index_key == ("issuer", "https://sso")


def test_role_subject() -> None:
    assert role_subject("app").match("app", "", NO_ATTRS) == {}
    assert role_subject("app").match("spiffe://td/app", "", NO_ATTRS) is None
    with pytest.raises(PolicyError):
        role_subject(" app")
