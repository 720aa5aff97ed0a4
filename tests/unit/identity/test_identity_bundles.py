"""Trust bundles: static and file-backed, config forms, trust-domain inference, reload keeping last good."""

from __future__ import annotations

from pathlib import Path

import pytest
from meshgate.clock import FixedClock
from meshgate.errors import ConfigError
from meshgate.identity import FileTrustBundles, StaticTrustBundles, X509SvidVerifier, parse_specs

from devtools.devca import DevCA, LeafSpec, pem_bundle

from .helpers import API, NOW, der


def spire_root(td: str = "example.org") -> DevCA:
    return DevCA(f"{td} root", now=NOW, uri_sans=[f"spiffe://{td}"])


def write(path: Path, *cas: DevCA) -> Path:
    path.write_bytes(pem_bundle([ca.cert for ca in cas]))
    return path


def test_static_bundles() -> None:
    root = spire_root()
    bundles = StaticTrustBundles({"example.org": [root.cert]})
    assert list(bundles.x509_authorities("example.org")) == [root.cert]
    assert bundles.x509_authorities("other.org") == ()
    assert bundles.generation == 0
    bundles.replace({})
    assert (bundles.generation, bundles.trust_domains()) == (1, ())


def test_mapping_config_with_several_domains_and_rotation(tmp_path: Path, clock: FixedClock) -> None:
    old, new, other = spire_root(), spire_root(), spire_root("other.org")
    bundles = FileTrustBundles(
        {
            "example.org": [write(tmp_path / "old.pem", old), str(write(tmp_path / "new.pem", new))],
            "other.org": [write(tmp_path / "other.pem", other)],
        },
        clock=clock,
    )
    assert list(bundles.x509_authorities("example.org")) == [old.cert, new.cert]
    verifier = X509SvidVerifier(bundles, clock)
    for ca in (old, new):
        assert verifier.verify(der([ca.issue_svid(API).cert])).principal == API
    assert verifier.verify(der([other.issue_svid("spiffe://other.org/x").cert])).issuer == "other.org"
    assert bundles.status.last_error is None and bundles.status.last_success == NOW


def test_specs_with_explicit_and_inferred_trust_domains(tmp_path: Path) -> None:
    spire = write(tmp_path / "spire.pem", spire_root("example.org"), spire_root("example.org"))
    linkerd = write(tmp_path / "anchor.pem", DevCA("root.linkerd.cluster.local", now=NOW))
    specs = [str(spire), f"cluster.local={linkerd}", f"cluster.local = {spire}"]
    assert parse_specs(specs) == {"example.org": [spire], "cluster.local": [linkerd, spire]}
    assert FileTrustBundles.from_specs(specs).x509_authorities("cluster.local")


@pytest.mark.parametrize(
    ("cas", "found"),
    [((DevCA("anchor", now=NOW),), "none"), ((spire_root("a.org"), spire_root("b.org")), "a.org, b.org")],
)
def test_inference_failure_says_to_use_td_equals_file(
    tmp_path: Path, cas: tuple[DevCA, ...], found: str
) -> None:
    path = write(tmp_path / "bundle.pem", *cas)
    with pytest.raises(ConfigError) as caught:
        parse_specs([str(path)])
    assert caught.value.message == (
        f"trust_bundles: cannot infer the trust domain of {path} (CA trust domains found: {found}); "
        f"write it as TD={path}"
    )


def test_first_load_fails_fast(tmp_path: Path) -> None:
    leaf = DevCA(now=NOW).issue(LeafSpec(uris=[API]))
    (tmp_path / "leaf.pem").write_bytes(leaf.cert_pem())
    cases = {
        "missing.pem": "example.org: cannot load",
        "leaf.pem": "example.org: " + str(tmp_path / "leaf.pem") + " holds a certificate that is not a CA",
    }
    for name, start in cases.items():
        with pytest.raises(ConfigError) as caught:
            FileTrustBundles({"example.org": [tmp_path / name]})
        assert caught.value.message.startswith("trust_bundles: " + start)
    with pytest.raises(ConfigError, match="no trust domain configured"):
        FileTrustBundles({})


def test_reload_picks_up_changes_and_bumps_generation(tmp_path: Path, clock: FixedClock) -> None:
    path = write(tmp_path / "b.pem", spire_root())
    bundles = FileTrustBundles({"example.org": [path]}, clock=clock)
    clock.advance(10)
    unchanged = bundles.reload()
    assert (unchanged.generation, unchanged.changed, unchanged.last_error) == (0, False, None)
    rotated = spire_root()
    write(path, rotated)
    status = bundles.reload()
    assert (status.generation, status.changed, status.last_success) == (1, True, clock.now())
    assert list(bundles.x509_authorities("example.org")) == [rotated.cert]


def test_broken_file_keeps_last_good_and_reports(tmp_path: Path, clock: FixedClock) -> None:
    good = spire_root()
    path_a = write(tmp_path / "a.pem", good)
    path_b = write(tmp_path / "b.pem", spire_root("other.org"))
    bundles = FileTrustBundles({"example.org": [path_a], "other.org": [path_b]}, clock=clock)
    path_a.write_text("-----BEGIN CERTIFICATE-----\ntruncated")
    new_other = spire_root("other.org")
    write(path_b, new_other)
    clock.advance(60)
    status = bundles.reload()
    assert status.last_error is not None and status.last_error.startswith(
        f"example.org: cannot load {path_a}:"
    )
    assert "\n" not in status.last_error
    assert status.last_success == NOW  # the previous full success
    assert list(bundles.x509_authorities("example.org")) == [good.cert]  # last good kept
    assert list(bundles.x509_authorities("other.org")) == [new_other.cert]  # the healthy domain moved on
    write(path_a, good)
    assert bundles.reload().last_error is None
