package dev.meshgate.pulsar;

import io.grpc.ManagedChannel;
import io.grpc.netty.GrpcSslContexts;
import io.grpc.netty.NettyChannelBuilder;
import io.netty.channel.Channel;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.epoll.Epoll;
import io.netty.channel.epoll.EpollDomainSocketChannel;
import io.netty.channel.epoll.EpollEventLoopGroup;
import io.netty.channel.unix.DomainSocketAddress;
import io.netty.handler.ssl.SslContext;
import java.io.Closeable;
import java.io.File;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Builds the gRPC channel to one service target: {@code unix:/path} (epoll domain socket, from the broker's
 * own netty and its native library) or {@code host:port}, in plaintext or mTLS. With TLS the service must present a
 * certificate that chains to {@code meshgateTlsCaFile} and names the target host (or {@code
 * meshgateTlsAuthority}); a service that cannot prove itself gets no questions.
 */
final class Channels implements Closeable {

    static final String UNIX_PREFIX = "unix:";

    private final TlsFiles tls;
    private final SslContext sslContext;
    private EventLoopGroup epollGroup;

    Channels(TlsFiles tls) throws IOException {
        this.tls = tls;
        this.sslContext = tls.enabled() ? sslContext(tls) : null;
    }

    private static SslContext sslContext(TlsFiles tls) throws IOException {
        try {
            return GrpcSslContexts.forClient()
                    .trustManager(new File(tls.caFile()))
                    .keyManager(new File(tls.certFile()), new File(tls.keyFile()))
                    .build();
        } catch (IOException | IllegalArgumentException e) {
            throw new IOException("meshgate: cannot load the TLS material (" + MeshgateConfig.TLS_CERT_FILE + "="
                    + tls.certFile() + ", " + MeshgateConfig.TLS_KEY_FILE + "=" + tls.keyFile() + ", "
                    + MeshgateConfig.TLS_CA_FILE + "=" + tls.caFile() + "): " + e.getMessage(), e);
        }
    }

    ManagedChannel open(String target) throws IOException {
        NettyChannelBuilder builder = target.startsWith(UNIX_PREFIX)
                ? unix(target) : NettyChannelBuilder.forTarget(target);
        if (sslContext == null) {
            builder.usePlaintext();
        } else {
            builder.sslContext(sslContext);
            if (!tls.authority().isEmpty()) {
                builder.overrideAuthority(tls.authority());
            }
        }
        return builder.build();
    }

    private NettyChannelBuilder unix(String target) throws IOException {
        return NettyChannelBuilder.forAddress(new DomainSocketAddress(unixPath(target)))
                .eventLoopGroup(epollGroup(target))
                .channelType(EpollDomainSocketChannel.class)
                .overrideAuthority(tls.authority().isEmpty() ? "localhost" : tls.authority());
    }

    /** The event loop of every Unix-socket connection of the shim (gRPC and frames): one thread. */
    synchronized EventLoopGroup epollGroup(String target) throws IOException {
        if (!Epoll.isAvailable()) {
            throw new IOException("meshgate: target " + target
                    + " needs the epoll native transport, which did not load: " + Epoll.unavailabilityCause());
        }
        if (epollGroup == null) {
            epollGroup = new EpollEventLoopGroup(1, Daemons.named("meshgate-uds"));
        }
        return epollGroup;
    }

    /**
     * Why the process behind {@code channel}, a connected Unix socket beside {@code target}, may not be the
     * service: it must run as the user that owns the target's gRPC socket file. Whoever may create files in that
     * directory could listen beside the service (the service does not create the frames socket when it has none,
     * or before it starts), but cannot run as the service's user. Null: it may be the service.
     */
    static String notTheService(Channel channel, String target) {
        String path = unixPath(target);
        try {
            int peer = ((EpollDomainSocketChannel) channel).peerCredentials().uid();
            int owner = (Integer) Files.getAttribute(Path.of(path), "unix:uid");
            return peer == owner ? null : "its process runs as uid " + peer + ", but " + path + " belongs to uid "
                    + owner;
        } catch (IOException | RuntimeException e) {
            return "cannot compare its process's user with the owner of " + path + ": " + e;
        }
    }

    /** The socket path of a {@code unix:} target. */
    static String unixPath(String target) {
        return target.substring(UNIX_PREFIX.length()).replaceFirst("^//", "");
    }

    @Override
    public synchronized void close() {
        if (epollGroup != null) {
            epollGroup.shutdownGracefully();
        }
    }
}
