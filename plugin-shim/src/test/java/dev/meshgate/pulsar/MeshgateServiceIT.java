package dev.meshgate.pulsar;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.meshgate.proto.v1.AuthorizeBatchRequest;
import dev.meshgate.proto.v1.AuthorizeBatchResponse;
import dev.meshgate.proto.v1.AuthorizeRequest;
import dev.meshgate.proto.v1.Resource;
import io.grpc.Deadline;
import io.prometheus.client.CollectorRegistry;
import java.io.IOException;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The client against the real Python service, started as a process on a Unix domain socket
 * ({@code python -m meshgate serve}, the example policies). Skipped when ../.venv is missing.
 */
class MeshgateServiceIT {

    private static final Path ROOT = Path.of(System.getProperty("user.dir")).getParent();
    private static final Path PYTHON = ROOT.resolve(".venv/bin/python");
    private static final String WRITER = "spiffe://meshgate.test/ns/payments/sa/writer";

    private static Process service;
    private static Path socket;

    @BeforeAll
    static void startService() throws Exception {
        assumeTrue(Files.isExecutable(PYTHON), "skipped: " + PYTHON + " not found (run `make venv`)");
        Path work = Files.createTempDirectory("meshgate-it");
        socket = work.resolve("meshgate.sock");
        Path config = work.resolve("meshgate.yaml");
        Files.writeString(config, "grpc:\n  listen: \"unix:" + socket + "\"\npolicy:\n  dir: \""
                + ROOT.resolve("policies/examples") + "\"\n");
        ProcessBuilder builder = new ProcessBuilder(PYTHON.toString(), "-m", "meshgate", "serve", "--config",
                config.toString()).redirectErrorStream(true).redirectOutput(work.resolve("meshgate.log").toFile());
        builder.environment().put("PYTHONPATH", ROOT.resolve("service").toString());
        service = builder.start();
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        while (!Files.readString(work.resolve("meshgate.log"), StandardCharsets.UTF_8).contains("ready on port")) {
            assertTrue(service.isAlive() && System.nanoTime() < deadline, "meshgate did not start; see "
                    + work.resolve("meshgate.log"));
            Thread.sleep(100);
        }
    }

    @AfterAll
    static void stopService() throws InterruptedException {
        if (service != null) {
            service.destroy();
            service.waitFor(15, TimeUnit.SECONDS);
        }
    }

    private static MeshgateConfig config(String targets) {
        return MeshgateConfig.from(MeshgateConfigTest.conf("meshgateTargets", targets, "meshgateDeadlineMillis",
                "2000"));
    }

    private static Decider decider(MeshgateConfig config, MeshgateClient client, DecisionCache cache,
                                   ShimMetrics metrics) {
        return new Decider(config, AuthorizeBatches.coalescer(client, config.coalescing(), client.timer(), metrics),
                new Retrier("authorize", client.timer(), metrics), cache, metrics,
                new ServedLog(1000, System::currentTimeMillis, metrics));
    }

    private static AuthorizeRequest produce(String principal) {
        return AuthorizeRequest.newBuilder().setPrincipal(principal).setAction("topic.produce")
                .setResource(Resource.newBuilder().setTenant("acme").setNamespace("acme/payments")
                        .setTopic("persistent://acme/payments/orders"))
                .build();
    }

    @Test
    void answersOverAUnixSocketAfterSkippingADeadTarget() throws IOException {
        int dead;
        try (ServerSocket probe = new ServerSocket(0)) {
            dead = probe.getLocalPort();
        }
        try (MeshgateClient client = new MeshgateClient(config("127.0.0.1:" + dead + ",unix:" + socket),
                new ShimMetrics(new CollectorRegistry()))) {
            AuthorizeBatchRequest batch = AuthorizeBatchRequest.newBuilder().addRequests(produce(WRITER))
                    .addRequests(produce("spiffe://meshgate.test/ns/x/sa/y")).build();
            AuthorizeBatchResponse response = client.authorizeBatch(batch, Deadline.after(2, TimeUnit.SECONDS)).join();
            assertTrue(response.getDecisions(0).getAllowed());
            assertFalse(response.getDecisions(1).getAllowed());
        }
    }

    @Test
    void followsTheRevisionStreamAndCachesOnlyUnderIt() throws Exception {
        MeshgateConfig config = config("unix:" + socket);
        ShimMetrics metrics = new ShimMetrics(new CollectorRegistry());
        DecisionCache cache = new DecisionCache(config);
        try (MeshgateClient client = new MeshgateClient(config, metrics);
             RevisionWatcher watcher = new RevisionWatcher(client, cache, metrics)) {
            watcher.start();
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
            while (cache.activeRevision() == null && System.nanoTime() < deadline) {
                Thread.sleep(20);
            }
            assertNotNull(cache.activeRevision(), "no revision from WatchRevision");
            Decider decider = decider(config, client, cache, metrics);
            assertTrue(decider.decide(produce(WRITER)).join());
            assertTrue(decider.decide(produce(WRITER)).join());
            assertEquals(1, cache.stats().hitCount());
        }
    }

    @Test
    void aTargetThatNeverAnswersCostsOneBudgetAndDenies() throws IOException {
        try (ServerSocket silent = new ServerSocket(0)) {
            MeshgateConfig config = MeshgateConfig.from(MeshgateConfigTest.conf("meshgateTargets",
                    "127.0.0.1:" + silent.getLocalPort(), "meshgateConnectDeadlineMillis", "500"));
            ShimMetrics metrics = new ShimMetrics(new CollectorRegistry());
            try (MeshgateClient client = new MeshgateClient(config, metrics)) {
                Decider decider = decider(config, client, new DecisionCache(config), metrics);
                long began = System.nanoTime();
                assertFalse(decider.decide(produce(WRITER)).join());
                long millis = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - began);
                assertTrue(millis >= 450 && millis < 1500, "one budget (two attempts) took " + millis + " ms");
            }
        }
    }

    @Test
    void theBatchCallsGoOverTheFramesSocketAndAnswerAsOverGrpc() throws IOException {
        assumeTrue(Files.exists(Path.of(socket + ".frames")), "skipped: this service offers no frames socket");
        AuthorizeBatchRequest batch = AuthorizeBatchRequest.newBuilder().addRequests(produce(WRITER))
                .addRequests(produce("spiffe://meshgate.test/ns/x/sa/y")).build();
        CollectorRegistry registry = new CollectorRegistry();
        AuthorizeBatchResponse framed;
        AuthorizeBatchResponse grpc;
        try (MeshgateClient client = new MeshgateClient(config("unix:" + socket), new ShimMetrics(registry))) {
            framed = client.authorizeBatch(batch, Deadline.after(2, TimeUnit.SECONDS)).join();
        }
        assertEquals(1.0, registry.getSampleValue("meshgate_shim_calls_total", new String[] {"rpc", "transport"},
                new String[] {"authorize_batch", "frames"}));
        assertNull(registry.getSampleValue("meshgate_shim_calls_total", new String[] {"rpc", "transport"},
                new String[] {"authorize_batch", "grpc"}));
        MeshgateConfig off = MeshgateConfig.from(MeshgateConfigTest.conf("meshgateTargets", "unix:" + socket,
                "meshgateFrames", "off"));
        try (MeshgateClient client = new MeshgateClient(off, new ShimMetrics(new CollectorRegistry()))) {
            grpc = client.authorizeBatch(batch, Deadline.after(2, TimeUnit.SECONDS)).join();
        }
        assertEquals(grpc, framed);
        assertTrue(framed.getDecisions(0).getAllowed());
        assertFalse(framed.getDecisions(1).getAllowed());
    }
}
