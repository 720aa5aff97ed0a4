package dev.meshgate.pulsar;

import dev.meshgate.proto.v1.FrameCall;
import dev.meshgate.proto.v1.FrameReply;
import java.io.Closeable;
import java.io.IOException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * A frames socket (docs/frames.md) that the test answers by hand: every {@code FrameCall} read is queued in
 * {@link #calls}, and the test sends replies, in any order, with {@link #reply}, or raw bytes, or closes.
 */
final class FakeFramesServer implements Closeable {

    private final Path path;
    private final ServerSocketChannel server;
    private final List<SocketChannel> connections = new CopyOnWriteArrayList<>();
    final BlockingQueue<FrameCall> calls = new LinkedBlockingQueue<>();
    final AtomicInteger accepted = new AtomicInteger();

    FakeFramesServer(Path path) throws IOException {
        this.path = path;
        server = ServerSocketChannel.open(StandardProtocolFamily.UNIX);
        server.bind(UnixDomainSocketAddress.of(path));
        Thread acceptor = new Thread(this::accept, "fake-frames-accept");
        acceptor.setDaemon(true);
        acceptor.start();
    }

    private void accept() {
        try {
            while (true) {
                SocketChannel connection = server.accept();
                accepted.incrementAndGet();
                connections.add(connection);
                Thread reader = new Thread(() -> read(connection), "fake-frames-read");
                reader.setDaemon(true);
                reader.start();
            }
        } catch (IOException closed) {
            // the test is over
        }
    }

    private void read(SocketChannel connection) {
        try {
            while (true) {
                ByteBuffer length = ByteBuffer.allocate(4);
                readFully(connection, length);
                ByteBuffer body = ByteBuffer.allocate(length.flip().getInt());
                readFully(connection, body);
                calls.add(FrameCall.parseFrom(body.flip()));
            }
        } catch (IOException closed) {
            // the client or the test closed it
        }
    }

    private static void readFully(SocketChannel connection, ByteBuffer buffer) throws IOException {
        while (buffer.hasRemaining()) {
            if (connection.read(buffer) < 0) {
                throw new IOException("closed");
            }
        }
    }

    /** The next call read, within a second. */
    FrameCall next() throws InterruptedException {
        FrameCall call = calls.poll(1, TimeUnit.SECONDS);
        if (call == null) {
            throw new AssertionError("no frames call within a second");
        }
        return call;
    }

    void reply(FrameReply reply) throws IOException {
        byte[] body = reply.toByteArray();
        send(ByteBuffer.allocate(4 + body.length).putInt(body.length).put(body).flip());
    }

    /** Raw bytes on the newest connection (a length prefix included). */
    synchronized void send(ByteBuffer bytes) throws IOException {
        SocketChannel connection = connections.get(connections.size() - 1);
        while (bytes.hasRemaining()) {
            connection.write(bytes);
        }
    }

    void closeConnections() throws IOException {
        for (SocketChannel connection : connections) {
            connection.close();
        }
        connections.clear();
    }

    @Override
    public void close() throws IOException {
        server.close();
        closeConnections();
        Files.deleteIfExists(path);
    }
}
