package dev.meshgate.pulsar;

import io.grpc.BindableService;
import io.grpc.Server;
import io.grpc.netty.NettyServerBuilder;
import java.net.InetSocketAddress;
import java.util.function.Consumer;
import org.apache.pulsar.broker.ServiceConfiguration;

/**
 * The authorization provider the broker loads, initialized against a scripted meshgate service on 127.0.0.1,
 * with deadlines long enough for a loaded CI machine and no produce prefetch (so tests see one question each).
 */
final class LoopbackProvider implements AutoCloseable {

    final Server server;
    final MeshgateAuthorizationProvider provider;

    private LoopbackProvider(Server server, MeshgateAuthorizationProvider provider) {
        this.server = server;
        this.provider = provider;
    }

    /** Serves {@code service}; {@code tune} adjusts the broker configuration (super-users, proxy roles). */
    static LoopbackProvider start(BindableService service, Consumer<ServiceConfiguration> tune) throws Exception {
        Server server = NettyServerBuilder.forAddress(new InetSocketAddress("127.0.0.1", 0)).addService(service)
                .build().start();
        ServiceConfiguration conf = MeshgateConfigTest.conf("meshgateTargets", "127.0.0.1:" + server.getPort(),
                "meshgateDeadlineMillis", "5000", "meshgateConnectDeadlineMillis", "5000",
                "meshgatePrefetchOnLookup", "false");
        tune.accept(conf);
        MeshgateAuthorizationProvider provider = new MeshgateAuthorizationProvider();
        try {
            provider.initialize(conf, null);
        } catch (Exception | Error e) {
            server.shutdownNow();
            throw e;
        }
        return new LoopbackProvider(server, provider);
    }

    @Override
    public void close() {
        provider.close();
        server.shutdownNow();
    }
}
