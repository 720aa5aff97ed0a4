"""Trust bundles loaded from PEM files, several trust domains, several CAs each (rotation).

Config is a mapping trust domain -> PEM files, or a list of `TD=FILE` / bare `FILE` specs; a bare file is
accepted when every CA in it names its trust domain in a `spiffe://<td>` URI SAN (as SPIRE's CAs do). The
first load fails fast; later reloads keep the last good CAs of a trust domain whose files fail to load.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from pathlib import Path

from cryptography import x509

from meshgate.clock import Clock
from meshgate.errors import ConfigError
from meshgate.identity.bundles import BundleState, KeptTrustBundles, ReloadStatus, fingerprints
from meshgate.identity.names import ca_trust_domain
from meshgate.principal.trustdomain import parse_trust_domain

BundleFiles = Mapping[str, Sequence[Path]]


class FileTrustBundles(KeptTrustBundles):
    """A `TrustBundleSource` backed by PEM files; call `reload()` (or run a watcher) to pick up changes."""

    def __init__(self, files: Mapping[str, Sequence[str | Path]], *, clock: Clock | None = None) -> None:
        self._files: BundleFiles = {parse_trust_domain(td): [Path(p) for p in ps] for td, ps in files.items()}
        if not self._files:
            raise ConfigError("trust_bundles: no trust domain configured")
        loaded, errors = _load_all(self._files)
        if errors:
            raise ConfigError(f"trust_bundles: {'; '.join(errors)}")
        super().__init__(BundleState(fingerprints, clock=clock, first=loaded))
        self._reloading = threading.Lock()

    @classmethod
    def from_specs(cls, specs: Sequence[str], *, clock: Clock | None = None) -> FileTrustBundles:
        """Build from `TD=FILE` or bare `FILE` strings (repeat a trust domain to give it several files)."""
        return cls(parse_specs(specs), clock=clock)

    def paths(self) -> list[Path]:
        return [p for ps in self._files.values() for p in ps]

    def reload(self) -> ReloadStatus:
        """Re-read every file. The generation changes only when some trust domain's CAs changed; a trust
        domain whose files fail to load keeps its last good CAs."""
        with self._reloading:  # one reload at a time: an older read never lands after a newer one
            loaded, errors = _load_all(self._files)
            return self._state.update(loaded, error="; ".join(errors) or None, kept=self._files)


def parse_specs(specs: Sequence[str]) -> dict[str, list[Path]]:
    """`["example.org=/b/a.pem", "/b/spire.pem"]` -> {"example.org": [a.pem], <inferred td>: [spire.pem]}."""
    out: dict[str, list[Path]] = {}
    for spec in specs:
        td, sep, file = spec.partition("=")
        if not sep:
            td, file = infer_trust_domain(Path(spec)), spec
        out.setdefault(parse_trust_domain(td.strip()), []).append(Path(file.strip()))
    return out


def infer_trust_domain(path: Path) -> str:
    """The trust domain every CA in `path` names in a `spiffe://<td>` URI SAN."""
    domains = {ca_trust_domain(cert) for cert in load_pem_cas(path)}
    if len(domains) != 1 or None in domains:
        found = ", ".join(sorted(d for d in domains if d)) or "none"
        raise ConfigError(
            f"trust_bundles: cannot infer the trust domain of {path} (CA trust domains found: {found}); "
            f"write it as TD={path}"
        )
    return next(d for d in domains if d)


def load_pem_cas(path: Path) -> tuple[x509.Certificate, ...]:
    """Every certificate in a PEM file; each must be a CA."""
    try:
        certs = x509.load_pem_x509_certificates(path.read_bytes())
    except (OSError, ValueError) as err:
        raise ConfigError(f"trust_bundles: cannot load {path}: {_one_line(err)}") from err
    for cert in certs:
        if not _is_ca(cert):
            raise ConfigError(f"trust_bundles: {path} holds a certificate that is not a CA: {cert.subject}")
    return tuple(certs)


def _load_all(files: BundleFiles) -> tuple[dict[str, tuple[x509.Certificate, ...]], list[str]]:
    loaded: dict[str, tuple[x509.Certificate, ...]] = {}
    errors: list[str] = []
    for td, paths in files.items():
        try:
            loaded[td] = tuple(cert for path in paths for cert in load_pem_cas(path))
        except ConfigError as err:
            errors.append(f"{td}: {err.message.removeprefix('trust_bundles: ')}")
    return loaded, errors


def _is_ca(cert: x509.Certificate) -> bool:
    try:
        return cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    except x509.ExtensionNotFound:
        return False


def _one_line(err: Exception) -> str:
    return " ".join(str(err).split())
