package dev.meshgate.pulsar;

import java.util.Locale;

/**
 * The namespace a principal lies in, read off its text: the shim's copy of {@code namespace_of} in
 * {@code service/meshgate/principal/kinds.py}, where the namespaces are defined. Both are held to one table,
 * {@code plugin-shim/src/test/resources/principal-namespaces.tsv}: {@code PrincipalNamespaceTest} checks this
 * class against it and {@code tests/unit/principal/test_principal_kinds_shim.py} checks kinds.py against it
 * (and that it covers every namespace and prefix kinds.py has), so the two cannot drift apart unnoticed.
 */
enum PrincipalNamespace {
    /** {@code spiffe:...} in any case: only a workload credential verified by meshgate produces one. */
    SPIFFE("spiffe"),
    /** {@code oidc:...}: only an SSO issuer's principal template produces one. */
    SSO("sso"),
    /** Anything else: a plain Pulsar role, which any authentication provider may produce. */
    PLAIN("plain");

    static final String SPIFFE_PREFIX = "spiffe:";
    static final String SSO_PREFIX = "oidc:";

    private final String label;

    PrincipalNamespace(String label) {
        this.label = label;
    }

    static PrincipalNamespace of(String principal) {
        int length = SPIFFE_PREFIX.length();
        if (principal.length() >= length
                && principal.substring(0, length).toLowerCase(Locale.ROOT).equals(SPIFFE_PREFIX)) {
            return SPIFFE;
        }
        return principal.startsWith(SSO_PREFIX) ? SSO : PLAIN;
    }

    /** As kinds.py names it ({@code Namespace.value}). */
    String label() {
        return label;
    }
}
