package dev.meshgate.pulsar;

import dev.meshgate.proto.v1.AuthorizeRequest;
import dev.meshgate.proto.v1.Decision;
import dev.meshgate.proto.v1.Resource;
import java.lang.management.ManagementFactory;
import java.lang.management.MemoryMXBean;
import org.apache.pulsar.broker.ServiceConfiguration;

/**
 * Benchmark helper (not shipped): heap held by the shim's {@link DecisionCache} per N cached decisions.
 * Keys are realistic produce requests (distinct SPIFFE principals and topics). Prints one JSON line.
 */
public final class CacheHeapProbe {

    private CacheHeapProbe() {
    }

    public static void main(String[] args) throws Exception {
        int entries = Integer.parseInt(args[0]);
        ServiceConfiguration conf = new ServiceConfiguration();
        conf.getProperties().setProperty(MeshgateConfig.CACHE_MAX_ENTRIES, Integer.toString(entries));
        DecisionCache cache = new DecisionCache(MeshgateConfig.from(conf));
        String revision = "0123456789abcdef0123456789abcdef01234567";
        cache.activate(revision);
        long before = settledHeap();
        for (int i = 0; i < entries; i++) {
            AuthorizeRequest request = request(i);
            cache.put(DecisionKey.of(request), decision(request, revision, (i & 7) != 0));
        }
        long after = settledHeap();
        System.out.printf("{\"entries\": %d, \"size\": %d, \"heap_before\": %d, \"heap_after\": %d}%n",
                entries, cache.size(), before, after);
    }

    private static AuthorizeRequest request(int i) {
        String tenant = "t" + (i % 1000);
        String namespace = tenant + "/ns" + (i % 10);
        return AuthorizeRequest.newBuilder()
                .setPrincipal("spiffe://cluster.local/ns/" + tenant + "-n" + (i % 10) + "/sa/writer-" + (i % 4))
                .setAction("topic.produce")
                .setResource(Resource.newBuilder().setTenant(tenant).setNamespace(namespace)
                        .setTopic("persistent://" + namespace + "/stream-" + i))
                .setBrokerId("standalone")
                .build();
    }

    /** A service answer as the engine words it: the sentence names the principal, action and topic. */
    private static Decision decision(AuthorizeRequest request, String revision, boolean allowed) {
        String sentence = "'" + request.getPrincipal() + "' to do topic.produce on "
                + request.getResource().getTopic();
        String rule = "tenants/" + request.getResource().getTenant() + ".yaml#writers";
        return Decision.newBuilder()
                .setAllowed(allowed)
                .setRuleId(allowed ? rule : "")
                .setReasonCode(allowed ? "allowed_by_rule" : "no_matching_rule")
                .setReason(allowed ? "rule " + rule + " allows " + sentence
                        : "no rule allows " + sentence + "; access is denied by default")
                .setRevision(revision)
                .build();
    }

    private static long settledHeap() throws InterruptedException {
        MemoryMXBean memory = ManagementFactory.getMemoryMXBean();
        for (int i = 0; i < 4; i++) {
            System.gc();
            Thread.sleep(100);
        }
        return memory.getHeapMemoryUsage().getUsed();
    }
}
