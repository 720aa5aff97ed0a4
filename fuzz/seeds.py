"""Seed inputs built from the harnesses' own fixtures (a genuine chain only chains to this process's CA, so
these are generated at each run; fuzz/corpus/ holds the static ones)."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path

from meshgate.v1 import meshgate_pb2 as pb

from fuzz.targets import rpc, token, x509chain
from fuzz.targets.common import ISSUED_IDS, NOW, pki


def _claims(**extra: object) -> bytes:
    base = {"iss": token.SSO, "sub": "alice", "aud": "pulsar", "exp": int(NOW.timestamp()) + 600}
    return json.dumps({**base, **extra}).encode()


def token_seeds() -> Iterator[bytes]:
    header = json.dumps({"alg": "EdDSA", "kid": token.KID, "typ": "JWT"}).encode()
    k8s = {"iss": token.K8S, "sub": "system:serviceaccount:payments:api"}
    for claims in (_claims(), _claims(**k8s), _claims(exp="soon"), _claims(aud=["x", "pulsar"], nbf=1)):
        yield b"\x02" + header + b"\x00" + claims
        yield b"\x01" + header + b"\x00" + claims + b"\x00" + bytes(64)
        signed = token.build(b"\x02" + header + b"\x00" + claims)
        yield b"\x00" + signed.encode()
    yield b"\x00" + base64.urlsafe_b64encode(b'{"alg":"none"}') + b".e30."


def x509_seeds() -> Iterator[bytes]:
    for chain in pki().chains():
        yield x509chain.encode(chain)
        yield x509chain.encode(chain[:1])
        yield x509chain.encode([*chain, chain[1]])


def rpc_seeds() -> Iterator[bytes]:
    chain = pki().chains()[0]
    topic = pb.Resource(tenant="acme", namespace="acme/payments", topic="persistent://acme/payments/orders")
    for principal in (*ISSUED_IDS, rpc.SUPERUSER, "nobody"):
        for action in ("topic.produce", "topic.consume", "topic.lookup"):
            request = pb.AuthorizeRequest(
                principal=principal, action=action, resource=topic, subscription="s"
            )
            yield b"\x00" + request.SerializeToString()
    with_cert = pb.AuthorizeRequest(
        principal=ISSUED_IDS[0], action="topic.produce", resource=topic,
        credential=pb.Credential(certificate_chain=pb.CertificateChain(der=chain)),
    )  # fmt: skip
    yield b"\x00" + with_cert.SerializeToString()
    yield b"\x02" + pb.AuthorizeBatchRequest(requests=[with_cert, with_cert]).SerializeToString()
    credentials = (
        pb.Credential(certificate_chain=pb.CertificateChain(der=chain)),
        pb.Credential(token="a.b.c"),
        pb.Credential(l5d_client_id="api.payments.serviceaccount.identity.linkerd.fuzz.test"),
    )
    for credential in credentials:
        peer = pb.Peer(address="127.0.0.1:5000", auth_method="tls", transport="binary")
        yield b"\x01" + pb.AuthenticateRequest(credential=credential, peer=peer).SerializeToString()


SEEDS = {"token": token_seeds, "x509": x509_seeds, "rpc": rpc_seeds}


def write_seeds(name: str, directory: Path) -> int:
    directory.mkdir(parents=True, exist_ok=True)
    count = 0
    for count, seed in enumerate(SEEDS.get(name, lambda: iter(()))(), start=1):
        (directory / f"seed-{count:03d}").write_bytes(seed)
    return count
