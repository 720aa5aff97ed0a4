package dev.meshgate.pulsar;

import dev.meshgate.proto.v1.AuthorizeRequest;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;

/**
 * What a cached decision is keyed on: exactly the fields sent to the service (the request itself, minus
 * its request id and prefetch mark, which do not change the answer), with the credential replaced by its
 * SHA-256 so no token sits in the cache, and the policy revision the answer belongs to. An answer the
 * service says holds for every subscription name is also kept under the same question with
 * {@code anySubscription} set (its subscription cleared), where a question naming any subscription finds it.
 */
record DecisionKey(AuthorizeRequest question, String credentialHash, String revision, boolean anySubscription) {

    static DecisionKey of(AuthorizeRequest request) {
        String hash = request.hasCredential() ? sha256(request.getCredential().toByteArray()) : "";
        AuthorizeRequest question =
                request.toBuilder().clearRequestId().clearPrefetch().clearCredential().build();
        return new DecisionKey(question, hash, "", false);
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
