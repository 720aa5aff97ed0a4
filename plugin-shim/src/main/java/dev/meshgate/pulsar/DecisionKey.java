package dev.meshgate.pulsar;

import dev.meshgate.proto.v1.AuthorizeRequest;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;

/**
 * What a cached decision is keyed on: exactly the fields sent to the service that can change its answer (the
 * request itself, minus its request id, prefetch mark, peer and credential kind, which the service only writes
 * to the audit log), with the credential replaced by its SHA-256 so no token sits in the cache, and the policy
 * revision the answer belongs to. A question from another connection of the same principal is the same key.
 * An answer the service says holds for every subscription name is also kept under the same question with
 * {@code anySubscription} set (its subscription cleared), where a question naming any subscription finds it.
 */
record DecisionKey(AuthorizeRequest question, String credentialHash, String revision, boolean anySubscription) {

    static DecisionKey of(AuthorizeRequest request) {
        String hash = request.hasCredential() ? sha256(request.getCredential().toByteArray()) : "";
        return new DecisionKey(strip(request), hash, "", false);
    }

    /** The question without what never changes its answer, and without its credential. */
    static AuthorizeRequest strip(AuthorizeRequest request) {
        return request.toBuilder().clearRequestId().clearPrefetch().clearCredential().clearPeer()
                .clearCredentialKind().build();
    }

    DecisionKey at(String policyRevision) {
        return new DecisionKey(question, credentialHash, policyRevision, anySubscription);
    }

    /**
     * The same question with {@code action} and no subscription (a lookup's prefetch companion), reusing the
     * credential's hash: a lookup that misses would otherwise hash the same token five times.
     */
    DecisionKey follower(String action) {
        return new DecisionKey(question.toBuilder().setAction(action).clearSubscription().build(), credentialHash,
                "", false);
    }

    /** Where an answer valid for every subscription name is kept: the question minus its subscription. */
    DecisionKey forAnySubscription() {
        return new DecisionKey(question.toBuilder().clearSubscription().build(), credentialHash, revision, true);
    }

    private static String sha256(byte[] bytes) {
        try {
            return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(bytes));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("SHA-256 is missing from this JVM", e);
        }
    }
}
