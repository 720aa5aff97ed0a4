package dev.meshgate.pulsar;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;

import com.google.protobuf.ByteString;
import dev.meshgate.proto.v1.AuthorizeRequest;
import dev.meshgate.proto.v1.CertificateChain;
import dev.meshgate.proto.v1.Credential;
import org.junit.jupiter.api.Test;

class DecisionKeyTest {

    private static AuthorizeRequest lookup(Credential credential) {
        return DecisionCacheTest.question("reader", "billing").toBuilder().setAction("topic.lookup")
                .setCredential(credential).build();
    }

    @Test
    void aFollowerIsTheKeyOfTheSameQuestionAskedWithThatActionAndNoSubscription() {
        Credential token = Credential.newBuilder().setToken("header.payload.signature").build();
        DecisionKey key = DecisionKey.of(lookup(token));
        AuthorizeRequest asked = lookup(token).toBuilder().setAction("topic.consume").clearSubscription()
                .setPrefetch(true).setRequestId("another").build();
        assertEquals(DecisionKey.of(asked), key.follower("topic.consume"));
        assertEquals(key.credentialHash(), key.follower("topic.produce").credentialHash());
    }

    @Test
    void theCredentialStillSeparatesFollowers() {
        Credential chain = Credential.newBuilder().setCertificateChain(
                CertificateChain.newBuilder().addDer(ByteString.copyFromUtf8("der"))).build();
        Credential token = Credential.newBuilder().setToken("t").build();
        assertNotEquals(DecisionKey.of(lookup(chain)).follower("topic.produce"),
                DecisionKey.of(lookup(token)).follower("topic.produce"));
    }

    @Test
    void aTokenIsKeyedByItsOwnBytesAndNoOtherKindSharesItsHash() {
        Credential token = Credential.newBuilder().setToken("x.y.z").build();
        assertEquals(DecisionKey.hash(token), DecisionKey.hash(Credential.newBuilder().setToken("x.y.z").build()));
        assertNotEquals(DecisionKey.hash(token), DecisionKey.hash(Credential.newBuilder().setToken("x.y.w").build()));
        Credential header = Credential.newBuilder().setL5DClientId("x.y.z").build();
        assertNotEquals(DecisionKey.hash(token), DecisionKey.hash(header));
        assertEquals(64, DecisionKey.hash(token).length());
    }
}
