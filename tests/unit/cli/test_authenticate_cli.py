"""`meshgate authenticate`: principal, exit codes, stable error codes and JSON, for certificates and tokens.

Certificates come from a CA minted in the test; tokens are minted with the conformance keys and their JWKS is
served by an in-memory fetcher (no network in the unit tier).
"""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from cryptography.hazmat.primitives.serialization import Encoding
from meshgate.cli import build_parser, main
from meshgate.cli.authenticate import run

from devtools.devca import DevCA, LeafSpec, pem_bundle
from tests.conformance.oidc.fakes import FakeFetcher
from tests.conformance.oidc.mint import jwks_document, mint, signing_keys

TD = "cli.test"
API = f"spiffe://{TD}/ns/payments/sa/api"
L5D_API = "api.payments.serviceaccount.identity.linkerd.mesh.cli.test"
SSO = "https://sso.cli.test"
K8S = "https://k8s.cli.test"
JWKS = {f"{SSO}/jwks.json": jwks_document(["rsa1"]), f"{K8S}/jwks.json": jwks_document(["k8s1"])}
NOW = datetime(2026, 1, 1, tzinfo=UTC)


class Run:
    """Runs the command in-process; returns (exit code, stdout, stderr)."""

    def __init__(self, capsys: pytest.CaptureFixture[str]) -> None:
        self._capsys = capsys

    def __call__(self, *argv: str, fetcher: FakeFetcher | None = None) -> tuple[int, str, str]:
        code = main(["authenticate", *argv]) if fetcher is None else run(_parse(argv), fetcher=fetcher)
        out, err = self._capsys.readouterr()
        return code, out, err

    def json(self, *argv: str, fetcher: FakeFetcher | None = None) -> tuple[int, dict[str, Any]]:
        code, out, err = self(*argv, "--output", "json", fetcher=fetcher)
        assert err == ""
        return code, json.loads(out)


def _parse(argv: tuple[str, ...]) -> Any:
    return build_parser().parse_args(["authenticate", *argv])


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]) -> Run:
    return Run(capsys)


@pytest.fixture
def ca() -> DevCA:
    return DevCA("cli root", now=NOW, uri_sans=[f"spiffe://{TD}"])


@pytest.fixture
def bundle(tmp_path: Path, ca: DevCA) -> Path:
    path = tmp_path / "bundle.pem"
    path.write_bytes(pem_bundle([ca.cert]))
    return path


def write_chain(tmp_path: Path, ca: DevCA, spec: LeafSpec, name: str = "chain.pem") -> Path:
    issued = ca.issue(spec)
    path = tmp_path / name
    path.write_bytes(pem_bundle([issued.cert, *ca.chain()]))
    return path


# --- certificates ----------------------------------------------------------------------------------------


def test_svid_prints_principal_and_expiry(cli: Run, tmp_path: Path, ca: DevCA, bundle: Path) -> None:
    chain = write_chain(tmp_path, ca, LeafSpec(uris=[API], not_after=NOW + timedelta(hours=2)))
    code, out, err = cli("--trust-bundle", str(bundle), "--cert-chain", str(chain), "--at", NOW.isoformat())
    assert (code, err) == (0, "")
    assert out.splitlines() == [API, "kind: x509_svid", f"issuer: {TD}", "expires_at: 2026-01-01T02:00:00Z"]


def test_svid_json(cli: Run, tmp_path: Path, ca: DevCA, bundle: Path) -> None:
    chain = write_chain(tmp_path, ca, LeafSpec(uris=[API], not_after=NOW + timedelta(hours=2)))
    code, body = cli.json("--trust-bundle", str(bundle), "--cert-chain", str(chain), "--at", NOW.isoformat())
    assert code == 0
    assert body == {"principal": API, "kind": "x509_svid", "expires_at": "2026-01-01T02:00:00Z", "issuer": TD}


def test_intermediate_chain_and_explicit_trust_domain(cli: Run, tmp_path: Path, ca: DevCA) -> None:
    intermediate = ca.intermediate(uri_sans=[f"spiffe://{TD}"])
    chain = write_chain(tmp_path, intermediate, LeafSpec(uris=[API]))
    bundle = tmp_path / "root.pem"
    bundle.write_bytes(pem_bundle([ca.cert]))
    code, body = cli.json(
        "--trust-bundle", f"{TD}={bundle}", "--cert-chain", str(chain), "--at", "2026-01-01"
    )
    assert (code, body["principal"]) == (0, API)


def test_der_file_is_one_certificate(cli: Run, tmp_path: Path, ca: DevCA, bundle: Path) -> None:
    der = tmp_path / "leaf.der"
    der.write_bytes(ca.issue(LeafSpec(uris=[API])).cert.public_bytes(Encoding.DER))
    code, body = cli.json("--trust-bundle", str(bundle), "--cert-chain", str(der), "--at", NOW.isoformat())
    assert (code, body["principal"]) == (0, API)


def test_expired_certificate_is_rejected_with_code(cli: Run, tmp_path: Path, ca: DevCA, bundle: Path) -> None:
    chain = write_chain(tmp_path, ca, LeafSpec(uris=[API], not_after=NOW + timedelta(hours=1)))
    later = (NOW + timedelta(hours=2)).isoformat()
    code, out, err = cli("--trust-bundle", str(bundle), "--cert-chain", str(chain), "--at", later)
    assert (code, out) == (1, "")
    assert err.startswith("meshgate authenticate: expired: identity: ")
    assert err.count("\n") == 1


def test_untrusted_chain_json(cli: Run, tmp_path: Path, bundle: Path) -> None:
    stranger = DevCA("stranger", now=NOW, uri_sans=[f"spiffe://{TD}"])
    chain = write_chain(tmp_path, stranger, LeafSpec(uris=[API]))
    code, body = cli.json("--trust-bundle", str(bundle), "--cert-chain", str(chain), "--at", NOW.isoformat())
    assert code == 1
    assert body["error"] == "untrusted_chain" and body["reason"].startswith("identity: ")
    assert set(body) == {"error", "reason"}


def test_two_uri_sans_rejected(cli: Run, tmp_path: Path, ca: DevCA, bundle: Path) -> None:
    chain = write_chain(tmp_path, ca, LeafSpec(uris=[API, f"spiffe://{TD}/ns/payments/sa/web"]))
    code, body = cli.json("--trust-bundle", str(bundle), "--cert-chain", str(chain), "--at", NOW.isoformat())
    assert (code, body["error"]) == (1, "multiple_uri_sans")


def test_garbage_pem_body_reaches_the_verifier(cli: Run, tmp_path: Path, bundle: Path) -> None:
    chain = tmp_path / "bad.pem"
    chain.write_text("-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydA==\n-----END CERTIFICATE-----\n")
    code, body = cli.json("--trust-bundle", str(bundle), "--cert-chain", str(chain))
    assert (code, body["error"]) == (1, "malformed_certificate")


def _linkerd_ca(tmp_path: Path) -> tuple[DevCA, Path]:
    anchor = DevCA("linkerd anchor", now=NOW)  # Linkerd's trust anchor names no trust domain
    bundle = tmp_path / "anchor.pem"
    bundle.write_bytes(pem_bundle([anchor.cert]))
    return anchor, bundle


def test_linkerd_dns_identity_with_flags(cli: Run, tmp_path: Path) -> None:
    anchor, bundle = _linkerd_ca(tmp_path)
    chain = write_chain(tmp_path, anchor, LeafSpec(dns=[L5D_API], common_name=L5D_API, san_critical=False))
    argv = ("--trust-bundle", f"mesh.cli.test={bundle}", "--cert-chain", str(chain), "--at", NOW.isoformat())
    code, body = cli.json(*argv, "--linkerd-trust-domain", "mesh.cli.test")
    assert (code, body["principal"], body["kind"]) == (
        0,
        "spiffe://mesh.cli.test/ns/payments/sa/api",
        "linkerd_cert",
    )
    code, body = cli.json(*argv)  # default naming: cluster.local, so this name belongs to no mesh
    assert (code, body["error"]) == (1, "no_identity")
    code, body = cli.json(
        *argv, "--linkerd-trust-domain", "mesh.cli.test", "--linkerd-control-plane-namespace", "l5d"
    )
    assert (code, body["error"]) == (1, "no_identity")


def test_identity_section_of_config(cli: Run, tmp_path: Path) -> None:
    anchor, bundle = _linkerd_ca(tmp_path)
    chain = write_chain(tmp_path, anchor, LeafSpec(dns=[L5D_API], common_name=L5D_API, san_critical=False))
    identity = {
        "trust_bundles": [f"mesh.cli.test={bundle.name}"],
        "linkerd": {"trust_domain": "mesh.cli.test"},
    }
    config = tmp_path / "meshgate.yaml"
    config.write_text(yaml.safe_dump({"identity": identity}))
    code, body = cli.json("--config", str(config), "--cert-chain", str(chain), "--at", NOW.isoformat())
    assert (code, body["principal"]) == (0, "spiffe://mesh.cli.test/ns/payments/sa/api")


@pytest.mark.parametrize(
    ("argv", "code"),
    [
        (("--cert-chain", "chain.pem"), "bad_arguments"),  # no trust bundle anywhere
        (("--cert-chain", "missing.pem", "--trust-bundle", "bundle.pem"), "bad_arguments"),
        (("--cert-chain", "chain.pem", "--trust-bundle", "missing.pem"), "config_invalid"),
        (("--cert-chain", "chain.pem", "--trust-bundle", "chain.pem"), "config_invalid"),  # a leaf, not a CA
        (("--cert-chain", "key.pem", "--trust-bundle", "bundle.pem"), "bad_arguments"),
        (("--cert-chain", "chain.pem", "--trust-bundle", "bundle.pem", "--at", "noon"), "bad_arguments"),
        (("--cert-chain", "chain.pem", "--trust-bundle", "bundle.pem", "--linkerd-trust-domain", "A B"),
         "config_invalid"),
    ],
)  # fmt: skip
def test_usage_and_config_errors_exit_2(
    cli: Run, tmp_path: Path, ca: DevCA, bundle: Path, argv: tuple[str, ...], code: str
) -> None:
    write_chain(tmp_path, ca, LeafSpec(uris=[API]))
    (tmp_path / "key.pem").write_bytes(ca.issue(LeafSpec(uris=[API])).key_pem())
    args = tuple(str(tmp_path / a) if a.endswith(".pem") else a for a in argv)
    exit_code, body = cli.json(*args)
    assert (exit_code, body["error"]) == (2, code), body


def test_a_credential_is_required(cli: Run, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["authenticate", "--output", "json"])
    assert exited.value.code == 2
    with pytest.raises(SystemExit) as exited:
        main(["authenticate", "--token", "a", "--cert-chain", "b"])
    assert exited.value.code == 2


# --- tokens ----------------------------------------------------------------------------------------------


@pytest.fixture
def oidc_config(tmp_path: Path) -> Path:
    issuers = [
        {"issuer": SSO, "jwks_url": f"{SSO}/jwks.json", "audiences": ["pulsar"], "kind": "sso"},
        {"issuer": K8S, "jwks_url": f"{K8S}/jwks.json", "audiences": ["pulsar"], "kind": "kubernetes",
         "trust_domain": TD},
    ]  # fmt: skip
    path = tmp_path / "meshgate.yaml"
    path.write_text(yaml.safe_dump({"oidc": {"issuers": issuers}}))
    return path


def token(key: str, iss: str, sub: str, exp_in: int = 600, **claims: Any) -> str:
    signer = signing_keys()[key]
    epoch = int(NOW.timestamp())
    payload = {"iss": iss, "sub": sub, "aud": "pulsar", "iat": epoch - 60, "exp": epoch + exp_in, **claims}
    return mint(signer, {"alg": signer.alg, "typ": "JWT", "kid": signer.kid}, payload)


def test_sso_token(cli: Run, oidc_config: Path) -> None:
    argv = ("--config", str(oidc_config), "--token", token("rsa1", SSO, "alice"), "--at", NOW.isoformat())
    code, body = cli.json(*argv, fetcher=FakeFetcher(JWKS))
    assert code == 0
    assert body == {
        "principal": f"oidc:{SSO}#alice",
        "kind": "oidc",
        "expires_at": "2026-01-01T00:10:00Z",
        "issuer": SSO,
    }


def test_a_delegated_token_names_the_agent_and_the_chain(cli: Run, oidc_config: Path) -> None:
    minted = token("rsa1", SSO, "alice", act={"sub": "deploy-bot", "act": {"sub": "orchestrator"}})
    argv = ("--config", str(oidc_config), "--token", minted, "--at", NOW.isoformat())
    code, body = cli.json(*argv, fetcher=FakeFetcher(JWKS))
    assert (code, body["principal"]) == (0, f"oidc:{SSO}#deploy-bot")
    actors = [f"oidc:{SSO}#deploy-bot", f"oidc:{SSO}#orchestrator"]
    assert body["delegation"] == {"subject": f"oidc:{SSO}#alice", "actors": actors}
    code, out, _ = cli(*argv, fetcher=FakeFetcher(JWKS))
    assert out.splitlines()[-2:] == [f"acting_for: oidc:{SSO}#alice", f"actors: {', '.join(actors)}"]


def test_k8s_token_from_file_maps_to_spiffe(cli: Run, oidc_config: Path, tmp_path: Path) -> None:
    path = tmp_path / "token"
    path.write_text(token("k8s1", K8S, "system:serviceaccount:payments:api") + "\n")
    argv = ("--config", str(oidc_config), "--token-file", str(path), "--at", NOW.isoformat())
    code, out, err = cli(*argv, fetcher=FakeFetcher(JWKS))
    assert (code, err) == (0, "")
    assert out.splitlines() == [
        API,
        "kind: k8s_sa_token",
        f"issuer: {K8S}",
        "expires_at: 2026-01-01T00:10:00Z",
    ]


def test_token_from_stdin(cli: Run, oidc_config: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    stdin = io.TextIOWrapper(io.BytesIO(token("rsa1", SSO, "bob").encode()))
    monkeypatch.setattr("sys.stdin", stdin)
    argv = ("--config", str(oidc_config), "--token-file", "-", "--at", NOW.isoformat())
    code, body = cli.json(*argv, fetcher=FakeFetcher(JWKS))
    assert (code, body["principal"]) == (0, f"oidc:{SSO}#bob")


@pytest.mark.parametrize(
    ("minted", "error"),
    [
        (lambda: token("rsa1", SSO, "alice", exp_in=-1), "expired"),
        (lambda: token("rsa1", "https://evil.test", "alice"), "wrong_issuer"),
        (lambda: token("rsa2", SSO, "alice"), "unknown_kid"),
        (lambda: token("rsa1", SSO, "alice", aud="kafka"), "wrong_audience"),
        (lambda: "not.a.jwt", "malformed"),
    ],
    ids=["expired", "wrong_issuer", "unknown_kid", "wrong_audience", "malformed"],
)
def test_rejected_tokens(cli: Run, oidc_config: Path, minted: Any, error: str) -> None:
    argv = ("--config", str(oidc_config), "--token", minted(), "--at", NOW.isoformat())
    code, body = cli.json(*argv, fetcher=FakeFetcher(JWKS))
    assert (code, body["error"]) == (1, error), body


def test_jwks_outage_is_a_rejection(cli: Run, oidc_config: Path) -> None:
    argv = ("--config", str(oidc_config), "--token", token("rsa1", SSO, "alice"), "--at", NOW.isoformat())
    code, out, err = cli(*argv, fetcher=FakeFetcher({}))
    assert (code, out) == (1, "")
    assert err.startswith("meshgate authenticate: jwks_unavailable: oidc: ")


def test_token_without_issuers_exits_2(cli: Run, tmp_path: Path) -> None:
    code, body = cli.json("--token", "a.b.c")
    assert (code, body["error"]) == (2, "bad_arguments")
    bad = tmp_path / "meshgate.yaml"
    bad.write_text(yaml.safe_dump({"oidc": {"issuers": [{"issuer": SSO}]}}))
    code, body = cli.json("--config", str(bad), "--token", "a.b.c")
    assert (code, body["error"]) == (2, "config_invalid")
