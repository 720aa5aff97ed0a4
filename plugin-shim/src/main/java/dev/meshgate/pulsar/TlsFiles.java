package dev.meshgate.pulsar;

/**
 * mTLS material for the channel to the service: the shim's client certificate and key, and the CA that
 * the service's certificate must chain to. All three or none; {@code authority} overrides the name checked
 * against the service certificate (default: the target host).
 */
public record TlsFiles(String certFile, String keyFile, String caFile, String authority) {

    static final TlsFiles NONE = new TlsFiles("", "", "", "");

    public boolean enabled() {
        return !caFile.isEmpty();
    }

    static TlsFiles validated(String certFile, String keyFile, String caFile, String authority) {
        TlsFiles files = new TlsFiles(certFile, keyFile, caFile, authority);
        boolean any = !certFile.isEmpty() || !keyFile.isEmpty() || !caFile.isEmpty();
        boolean all = !certFile.isEmpty() && !keyFile.isEmpty() && !caFile.isEmpty();
        if (any && !all) {
            throw new IllegalArgumentException(MeshgateConfig.TLS_CERT_FILE + ", " + MeshgateConfig.TLS_KEY_FILE
                    + " and " + MeshgateConfig.TLS_CA_FILE + " must be set together (mTLS to the service)");
        }
        return files;
    }
}
