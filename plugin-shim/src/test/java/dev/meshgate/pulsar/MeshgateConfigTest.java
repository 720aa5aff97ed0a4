package dev.meshgate.pulsar;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.Properties;
import java.util.Set;
import org.apache.pulsar.broker.ServiceConfiguration;
import org.junit.jupiter.api.Test;

class MeshgateConfigTest {

    static ServiceConfiguration conf(String... keyValues) {
        ServiceConfiguration conf = new ServiceConfiguration();
        Properties properties = new Properties();
        for (int i = 0; i < keyValues.length; i += 2) {
            properties.setProperty(keyValues[i], keyValues[i + 1]);
        }
        conf.setProperties(properties);
        return conf;
    }

    private static String error(String... keyValues) {
        return assertThrows(IllegalArgumentException.class, () -> MeshgateConfig.from(conf(keyValues))).getMessage();
    }

    @Test
    void defaults() {
        MeshgateConfig config = MeshgateConfig.from(conf());
        assertEquals(List.of("127.0.0.1:50051"), config.targets());
        assertEquals(100, config.deadlineMillis());
        assertEquals(3000, config.connectDeadlineMillis());
        assertEquals(3000, config.authnDeadlineMillis());
        assertEquals(10_000, config.cacheMaxEntries());
        assertEquals(300, config.cacheTtlSeconds());
        assertEquals(FailMode.DENY, config.failMode());
        assertFalse(config.tls().enabled());
        assertTrue(config.superUserRoles().isEmpty());
        assertTrue(config.prefetchOnLookup());
        assertEquals(4, config.maxCallsInFlight());
        assertEquals(128, config.maxBatchSize());
        assertEquals(20, config.callStallMillis());
        assertEquals(new Coalescer.Limits(4, 128, 256 * 1024, 20_000_000), config.coalescing());
    }

    @Test
    void coalescingKeysAreReadAndBounded() {
        MeshgateConfig config = MeshgateConfig.from(conf("meshgateMaxCallsInFlight", "1", "meshgateMaxBatchSize",
                "512", "meshgateCallStallMillis", "0"));
        assertEquals(1, config.maxCallsInFlight());
        assertEquals(512, config.maxBatchSize());
        assertEquals(0, config.coalescing().stallNanos());
        assertEquals("meshgateCallStallMillis must be between 0 and 60000, got -1",
                error("meshgateCallStallMillis", "-1"));
        assertEquals("meshgateMaxCallsInFlight must be between 1 and 256, got 0",
                error("meshgateMaxCallsInFlight", "0"));
        assertEquals("meshgateMaxBatchSize must be between 1 and 512, got 513", error("meshgateMaxBatchSize", "513"));
        assertEquals("meshgateMaxBatchSize must be a whole number, got 'lots'", error("meshgateMaxBatchSize", "lots"));
    }

    @Test
    void theConnectPathHasItsOwnDeadline() {
        MeshgateConfig config = MeshgateConfig.from(conf("meshgateDeadlineMillis", "80",
                "meshgateConnectDeadlineMillis", "4000"));
        assertEquals(4000, config.budgetMillis("topic.lookup"));
        assertEquals(4000, config.budgetMillis("topic.consume"));
        assertEquals(80, config.budgetMillis("namespace.get_topics"));
        assertEquals("meshgateConnectDeadlineMillis must be between 1 and 60000, got 0",
                error("meshgateConnectDeadlineMillis", "0"));
    }

    @Test
    void readsKeysAndSuperUsers() {
        ServiceConfiguration conf = conf("meshgateTargets", "unix:/run/meshgate.sock, meshgate.mesh:50051",
                "meshgateDeadlineMillis", "250", "meshgateCacheMaxEntries", "0", "meshgateFailMode", "stale-if-error",
                "meshgateStaleIfErrorSeconds", "10");
        conf.setSuperUserRoles(Set.of("broker"));
        MeshgateConfig config = MeshgateConfig.from(conf);
        assertEquals(List.of("unix:/run/meshgate.sock", "meshgate.mesh:50051"), config.targets());
        assertEquals(250, config.deadlineMillis());
        assertEquals(0, config.cacheMaxEntries());
        assertEquals(FailMode.STALE_IF_ERROR, config.failMode());
        assertEquals(10, config.staleIfErrorSeconds());
        assertEquals(Set.of("broker"), config.superUserRoles());
    }

    @Test
    void equalConfigurationsShareARuntime() {
        assertEquals(MeshgateConfig.from(conf("meshgateTargets", "a:1")),
                MeshgateConfig.from(conf("meshgateTargets", "a:1")));
    }

    @Test
    void badNumberNamesTheKey() {
        assertEquals("meshgateDeadlineMillis must be a whole number, got 'fast'",
                error("meshgateDeadlineMillis", "fast"));
    }

    @Test
    void prefetchIsTrueOrFalse() {
        assertFalse(MeshgateConfig.from(conf("meshgatePrefetchOnLookup", "False")).prefetchOnLookup());
        assertEquals("meshgatePrefetchOnLookup must be true or false, got 'yes'",
                error("meshgatePrefetchOnLookup", "yes"));
    }

    @Test
    void outOfRangeNumbersAreRejected() {
        assertEquals("meshgateDeadlineMillis must be between 1 and 60000, got 0", error("meshgateDeadlineMillis", "0"));
        assertEquals("meshgateCacheTtlSeconds must be between 1 and 86400, got -5",
                error("meshgateCacheTtlSeconds", "-5"));
        assertEquals("meshgateCacheMaxEntries must be between 0 and 10000000, got 20000000",
                error("meshgateCacheMaxEntries", "20000000"));
    }

    @Test
    void targetsAreChecked() {
        assertEquals("meshgateTargets must name at least one target (host:port or unix:/path)",
                error("meshgateTargets", " , "));
        assertEquals("meshgateTargets: expected host:port or unix:/path, got 'localhost'",
                error("meshgateTargets", "localhost"));
        assertEquals("meshgateTargets: a unix target needs an absolute path (unix:/path), got 'unix:run/x.sock'",
                error("meshgateTargets", "unix:run/x.sock"));
    }

    @Test
    void renamedKeyIsNotSilentlyIgnored() {
        assertEquals("meshgateTarget was renamed to meshgateTargets (a comma-separated list, tried in order)",
                error("meshgateTarget", "127.0.0.1:1"));
    }

    @Test
    void framesIsAutoOrOff() {
        assertEquals(FramesMode.AUTO, MeshgateConfig.from(conf()).frames());
        assertEquals(FramesMode.OFF, MeshgateConfig.from(conf("meshgateFrames", "off")).frames());
        assertEquals("meshgateFrames must be one of [auto, off], got 'on'", error("meshgateFrames", "on"));
        assertEquals("meshgateFrames must be one of [auto, off], got ''", error("meshgateFrames", " "));
    }

    @Test
    void unknownFailModeListsTheChoices() {
        assertEquals("meshgateFailMode must be one of [deny, stale-if-error], got 'allow'",
                error("meshgateFailMode", "allow"));
    }

    @Test
    void tlsMaterialComesTogetherAndMustBeReadable() {
        assertEquals("meshgateTlsCaFile: cannot read file '/nonexistent/ca.pem'",
                error("meshgateTlsCaFile", "/nonexistent/ca.pem"));
        String pom = System.getProperty("user.dir") + "/pom.xml";
        assertEquals("meshgateTlsCertFile, meshgateTlsKeyFile and meshgateTlsCaFile must be set together"
                + " (mTLS to the service)", error("meshgateTlsCaFile", pom));
        MeshgateConfig config = MeshgateConfig.from(conf("meshgateTlsCaFile", pom, "meshgateTlsCertFile", pom,
                "meshgateTlsKeyFile", pom));
        assertTrue(config.tls().enabled());
    }
}
