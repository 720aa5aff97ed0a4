package dev.meshgate.pulsar;

import dev.meshgate.proto.v1.AuthorizeRequest;
import dev.meshgate.proto.v1.Credential;
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

    // One digest per thread: MessageDigest.getInstance walks the JVM's security providers on every call, and
    // the key of every question with a credential is hashed, a cache hit included. digest() resets it.
    private static final ThreadLocal<MessageDigest> SHA_256 = ThreadLocal.withInitial(() -> {
        try {
            return MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("SHA-256 is missing from this JVM", e);
        }
    });
    private static final HexFormat HEX = HexFormat.of();

    static DecisionKey of(AuthorizeRequest request) {
        String hash = request.hasCredential() ? hash(request.getCredential()) : "";
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

    /**
     * The SHA-256 of a credential. A token (nearly every question) is hashed from its own bytes: serializing the
     * message first ran protobuf's encoder over the ~1 KB token char by char, on the broker's I/O thread, for
     * every question. Other kinds hash the serialized message; the leading byte keeps the two apart.
     */
    static String hash(Credential credential) {
        MessageDigest digest = SHA_256.get();
        if (credential.getKindCase() == Credential.KindCase.TOKEN) {
            digest.update((byte) 't');
            digest.update(credential.getTokenBytes().asReadOnlyByteBuffer());
        } else {
            digest.update((byte) 'm');
            digest.update(credential.toByteArray());
        }
        return HEX.formatHex(digest.digest());
    }
}
