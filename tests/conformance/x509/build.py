"""Materialise the X.509 conformance cases in `cases.yaml` into bundles, a presented chain and a clock.

`iter_cases()` is the one entry point for every runner (in-process here, over gRPC elsewhere): it yields
`Material(case_id, bundle_pems_by_trust_domain, chain_der, now, expected)` with certificates minted fresh
by `devtools.devca`. `expected.options` holds the verifier settings a case needs (skew, chain length, Linkerd
naming); a runner that cannot apply them should skip the case.

Case schema (all times are offsets from BASE_TIME, e.g. "-2h", "+30s", "1d"):
  cas:      {name: {trust_domain, parent, key, san (default true), not_before, not_after, permitted_dns,
             permitted_uris}}  -- a CA with a trust_domain and san names it in a spiffe://<td> URI SAN
  bundles:  {trust_domain: [ca names]}  (default: every root with a trust_domain goes into its bundle)
  leaf:     {issuer, uris, dns, cn, key, is_ca, key_usage, eku (list of client/server, or none), san_critical,
             self_signed, not_before, not_after}
  chain:    [leaf | ca name | "pem:<name>" | "text:<bytes>"]  (default: leaf, then the issuer's intermediates)
  clock:    offset of the verifier's now
  verifier: {max_skew_seconds, max_chain_length, linkerd: {control_plane_namespace, trust_domain} | null}
  expect:   {principal, kind} or {error: <code>}
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, NamedTuple

import yaml
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import ExtendedKeyUsageOID

from devtools.devca import DevCA, LeafSpec

CASES_FILE = Path(__file__).with_name("cases.yaml")
BASE_TIME = datetime(2026, 1, 1, tzinfo=UTC)
_EKU = {"client": ExtendedKeyUsageOID.CLIENT_AUTH, "server": ExtendedKeyUsageOID.SERVER_AUTH}
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


@dataclass(frozen=True)
class VerifierOptions:
    max_skew_seconds: float = 30.0
    max_chain_length: int = 6
    linkerd: Mapping[str, str] | None = field(default_factory=dict)  # {} = default naming, None = disabled


@dataclass(frozen=True)
class Expected:
    principal: str | None = None
    kind: str | None = None
    error: str | None = None
    options: VerifierOptions = field(default_factory=VerifierOptions)


class Material(NamedTuple):
    case_id: str
    bundle_pems_by_trust_domain: dict[str, list[bytes]]
    chain_der: list[bytes]
    now: datetime
    expected: Expected


def iter_cases(path: Path = CASES_FILE) -> Iterator[Material]:
    for case in load_cases(path):
        yield materialise(case)


def load_cases(path: Path = CASES_FILE) -> list[dict[str, Any]]:
    cases: list[dict[str, Any]] = yaml.safe_load(path.read_text())["cases"]
    ids = [c["id"] for c in cases]
    assert len(ids) == len(set(ids)), "conformance case ids must be unique"
    return cases


def materialise(case: dict[str, Any]) -> Material:
    cas = _build_cas(case.get("cas", {}))
    leaf = _build_leaf(case.get("leaf"), cas)
    bundles = _bundles(case, cas)
    layout = case["chain"] if "chain" in case else _default_chain(case)
    chain = [_chain_element(e, leaf, cas) for e in layout]
    now = BASE_TIME + offset(case.get("clock", 0))
    return Material(case["id"], bundles, chain, now, _expected(case))


def offset(value: str | int | float) -> timedelta:
    """ "-2h" / "+30s" / "1d" / 90 (seconds) -> timedelta."""
    if isinstance(value, int | float):
        return timedelta(seconds=value)
    total, text = 0, value.replace(" ", "")
    sign = -1 if text.startswith("-") else 1
    for number, unit in re.findall(r"(\d+)([smhd])", text):
        total += int(number) * _UNITS[unit]
    return timedelta(seconds=sign * total)


def _at(spec: Mapping[str, Any], key: str) -> datetime | None:
    return BASE_TIME + offset(spec[key]) if key in spec else None


def _build_cas(specs: Mapping[str, Mapping[str, Any]]) -> dict[str, DevCA]:
    cas: dict[str, DevCA] = {}
    for name, spec in specs.items():  # parents are listed before their children
        td = spec.get("trust_domain")
        cas[name] = DevCA(
            name,
            key_kind=spec.get("key", "p256"),
            now=BASE_TIME,
            parent=cas[spec["parent"]] if "parent" in spec else None,
            permitted_dns=spec.get("permitted_dns"),
            permitted_uris=spec.get("permitted_uris"),
            uri_sans=[f"spiffe://{td}"] if td and spec.get("san", True) else (),
            not_before=_at(spec, "not_before"),
            not_after=_at(spec, "not_after"),
        )
    return cas


def _build_leaf(spec: Mapping[str, Any] | None, cas: Mapping[str, DevCA]) -> x509.Certificate | None:
    if spec is None:
        return None
    issuer = cas[spec["issuer"]] if "issuer" in spec else DevCA("self", now=BASE_TIME)
    eku = spec.get("eku", "default")  # default (clientAuth+serverAuth) | none | [client, server]
    leaf_spec = LeafSpec(
        uris=spec.get("uris", ()),
        dns=spec.get("dns", ()),
        common_name=spec.get("cn"),
        key_kind=spec.get("key", "p256"),
        not_before=_at(spec, "not_before"),
        not_after=_at(spec, "not_after"),
        is_ca=spec.get("is_ca", False),
        key_usage=spec.get("key_usage", "signing"),
        eku=_eku(eku),
        san_critical=spec.get("san_critical", True),
        self_signed=spec.get("self_signed", False),
    )
    return issuer.issue(leaf_spec).cert


def _eku(value: str | list[str]) -> list[x509.ObjectIdentifier] | None:
    if value == "default":
        return [_EKU["client"], _EKU["server"]]
    return None if value == "none" else [_EKU[e] for e in value]


def _bundles(case: Mapping[str, Any], cas: Mapping[str, DevCA]) -> dict[str, list[bytes]]:
    layout = case.get("bundles")
    if layout is None:
        specs = case.get("cas", {})
        layout = {}
        for name, spec in specs.items():
            if "parent" not in spec and "trust_domain" in spec:
                layout.setdefault(spec["trust_domain"], []).append(name)
    return {td: [cas[n].cert.public_bytes(Encoding.PEM) for n in names] for td, names in layout.items()}


def _default_chain(case: Mapping[str, Any]) -> list[str]:
    issuer = (case.get("leaf") or {}).get("issuer")
    specs = case.get("cas", {})
    chain, name = ["leaf"], issuer
    while name is not None and "parent" in specs[name]:
        chain.append(name)
        name = specs[name]["parent"]
    return chain


def _chain_element(element: str, leaf: x509.Certificate | None, cas: Mapping[str, DevCA]) -> bytes:
    if element.startswith("text:"):
        return element[len("text:") :].encode()
    encoding = Encoding.PEM if element.startswith("pem:") else Encoding.DER
    name = element.removeprefix("pem:")
    cert = leaf if name == "leaf" else cas[name].cert
    assert cert is not None, f"chain names {name!r} but the case has no such certificate"
    return cert.public_bytes(encoding)


def _expected(case: Mapping[str, Any]) -> Expected:
    expect = case["expect"]
    options = VerifierOptions(**case.get("verifier", {}))
    return Expected(expect.get("principal"), expect.get("kind"), expect.get("error"), options)
