package dev.meshgate.pulsar;

import com.google.protobuf.InvalidProtocolBufferException;
import dev.meshgate.proto.v1.FrameCall;
import dev.meshgate.proto.v1.FrameReply;
import io.grpc.Deadline;
import io.grpc.Status;
import io.netty.bootstrap.Bootstrap;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.epoll.EpollDomainSocketChannel;
import io.netty.channel.unix.DomainSocketAddress;
import io.netty.handler.codec.LengthFieldBasedFrameDecoder;
import io.netty.handler.codec.LengthFieldPrepender;
import java.io.Closeable;
import java.io.IOException;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Executor;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Function;

/**
 * The frames transport to one {@code unix:/path} target (docs/frames.md): the two batch calls as length-prefixed
 * {@code FrameCall}/{@code FrameReply} messages over {@code /path.frames}, on the shim's Unix-socket event loop and
 * the Netty framing classes the broker's own protocol runs (hot after a restart, unlike gRPC's HTTP/2 codec).
 * Connects on the first call; a connect that fails, or a connection that closes, leaves the target to gRPC for
 * {@link MeshgateClient#RECONNECT_CHECK_MILLIS}. A call's deadline is enforced here, on the timer.
 *
 * <p>Threads: replies are read on the event loop and deadlines fire on the timer, but every future is completed on
 * {@code callbacks}, gRPC's own callback executor, as on the gRPC path: the broker's continuations run there, so
 * one that blocks (or waits on another question) never holds the one thread that reads every answer.
 */
final class FramesConnection implements Closeable {

    /** The largest reply read, as on the shim's gRPC channel. */
    static final int MAX_FRAME_BYTES = 4 * 1024 * 1024;

    /** One connection: its channel, its calls in flight and the handler that answers them. */
    private final class Link extends ChannelInboundHandlerAdapter {
        final Map<Long, FramePending<?>> inFlight = new ConcurrentHashMap<>();
        final Channel channel;
        private Throwable failure;

        Link(Channel channel) {
            this.channel = channel;
        }

        @Override
        public void channelRead(ChannelHandlerContext ctx, Object msg) {
            FrameReply reply;
            ByteBuf frame = (ByteBuf) msg;
            try {
                reply = FrameReply.parseFrom(frame.nioBuffer());
            } catch (InvalidProtocolBufferException e) {
                exceptionCaught(ctx, new IOException("a frame that is not a FrameReply: " + e.getMessage(), e));
                return;
            } finally {
                frame.release();
            }
            FramePending<?> call = inFlight.remove(reply.getId());
            if (call != null) {  // else its deadline passed first
                call.answer(reply);
                complete(call);
            }
        }

        @Override
        public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
            failure = cause;
            ctx.close();
        }

        @Override
        public void channelInactive(ChannelHandlerContext ctx) {
            closed(this, failure);
        }
    }

    private final String target;
    private final String path;
    private final Bootstrap bootstrap;
    private final ScheduledExecutorService timer;
    private final Executor callbacks;
    private final AtomicLong ids = new AtomicLong();
    private final FramesLog log;
    private Link link;
    private ChannelFuture connecting;
    private long retryAt;
    private boolean waiting;
    private boolean closed;

    /** To {@code target}'s {@code /path.frames}; deadlines on {@code timer}, futures completed on {@code callbacks}. */
    FramesConnection(String target, EventLoopGroup group, ScheduledExecutorService timer, Executor callbacks) {
        this.target = target;
        this.path = Channels.unixPath(target) + ".frames";
        this.log = new FramesLog(target, path);
        this.timer = timer;
        this.callbacks = callbacks;
        this.bootstrap = new Bootstrap().group(group).channel(EpollDomainSocketChannel.class)
                .handler(new ChannelInitializer<Channel>() {
                    @Override
                    protected void initChannel(Channel channel) {
                        channel.pipeline().addLast(new LengthFieldBasedFrameDecoder(MAX_FRAME_BYTES, 0, 4, 0, 4),
                                new LengthFieldPrepender(4), new Link(channel));
                    }
                });
    }

    /**
     * Sends one call: its future fails UNAVAILABLE ({@link FramePending#lost}) when the connection cannot carry it.
     * Null when the target is on gRPC for now (a connect failed or a connection closed within the recheck interval).
     */
    <R> CompletableFuture<R> call(FrameCall.Builder frame, Deadline deadline, FrameReply.ReplyCase expected,
                                  Function<FrameReply, R> answer) {
        Link ready;
        ChannelFuture pending = null;
        synchronized (this) {
            ready = link;
            if (ready == null && (pending = connectIfDue()) == null) {
                return null;
            }
        }
        FramePending<R> call = new FramePending<>(expected, answer);
        if (ready != null) {
            send(ready, frame, deadline, call);
        } else {
            pending.addListener(connect -> {
                Link connected = accepted(((ChannelFuture) connect).channel());
                if (connected != null) {
                    send(connected, frame, deadline, call);
                } else {
                    fail(call, FramePending.lost("cannot connect to " + path + ": " + connect.cause()));
                }
            });
        }
        return call;
    }

    synchronized boolean connected() {
        return link != null;
    }

    /** The link of {@code channel} if {@link #connected} kept it (it runs before the calls' listeners). */
    private synchronized Link accepted(Channel channel) {
        return link != null && link.channel == channel ? link : null;
    }

    private ChannelFuture connectIfDue() {
        if (closed || (connecting == null && waiting && System.nanoTime() - retryAt < 0)) {
            return null;
        }
        if (connecting == null) {
            connecting = bootstrap.connect(new DomainSocketAddress(path));
            connecting.addListener(connect -> connected((ChannelFuture) connect));
        }
        return connecting;
    }

    private void connected(ChannelFuture connect) {
        String refused = connect.isSuccess() ? Channels.notTheService(connect.channel(), target) : null;
        boolean kept;
        synchronized (this) {
            connecting = null;
            kept = connect.isSuccess() && !closed && refused == null;
            if (kept) {
                link = connect.channel().pipeline().get(Link.class);
                waiting = false;
            } else {
                backOff();
            }
        }
        if (kept) {
            log.used();
        } else if (connect.isSuccess()) {  // not the service, or closed meanwhile
            connect.channel().close();
            if (refused != null) {
                log.failed("refusing the frames socket " + path + ": " + refused);
            }
        } else {
            log.connectFailed(connect.cause());
        }
    }

    /** The connection {@code closed}: its calls in flight are failed as lost (and asked again over gRPC). */
    private void closed(Link closed, Throwable cause) {
        boolean ours;
        synchronized (this) {
            ours = this.closed;
            if (link == closed) {
                link = null;
                backOff();
            }
        }
        Status lost = FramePending.lost("the frames connection closed: "
                + (cause == null ? "closed by the service" : cause));
        int calls = 0;
        for (Long id : closed.inFlight.keySet()) {
            FramePending<?> call = closed.inFlight.remove(id);
            if (call != null) {
                calls++;
                fail(call, lost);
            }
        }
        if (!ours) {
            log.failed("the frames connection to " + path + " closed (" + (cause == null ? "by the service" : cause)
                    + ") with " + calls + " call(s) in flight, asked again over gRPC");
        }
    }

    private void backOff() {
        waiting = true;
        retryAt = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(MeshgateClient.RECONNECT_CHECK_MILLIS);
    }

    private <R> void send(Link to, FrameCall.Builder frame, Deadline deadline, FramePending<R> call) {
        long left = deadline.timeRemaining(TimeUnit.NANOSECONDS);
        if (left <= 0) {
            fail(call, Status.DEADLINE_EXCEEDED.withDescription("the deadline passed before the call was sent"));
            return;
        }
        long budget = Math.min(Integer.MAX_VALUE, Math.max(1, TimeUnit.NANOSECONDS.toMillis(left)));
        long id = ids.incrementAndGet();
        byte[] bytes = frame.setId(id).setBudgetMs((int) budget).build().toByteArray();
        to.inFlight.put(id, call);
        try {
            call.expiry(timer.schedule(() -> take(to, id, Status.DEADLINE_EXCEEDED.withDescription(
                    "no frames reply from " + path + " within " + budget + " ms")), left, TimeUnit.NANOSECONDS));
        } catch (RejectedExecutionException closing) {
            take(to, id, Status.UNAVAILABLE.withDescription("the client is closing"));
            return;
        }
        if (!to.channel.isActive()) {  // closed since: its calls may have been failed already
            take(to, id, FramePending.lost("the frames connection closed"));
            return;
        }
        to.channel.writeAndFlush(Unpooled.wrappedBuffer(bytes), to.channel.voidPromise());  // failed: exceptionCaught
    }

    private void take(Link on, long id, Status status) {
        FramePending<?> call = on.inFlight.remove(id);
        if (call != null) {
            fail(call, status);
        }
    }

    private void fail(FramePending<?> call, Status status) {
        call.fail(status);
        complete(call);
    }

    /** Hands the outcome to the caller on the callback executor (inline once that has shut down). */
    private void complete(FramePending<?> call) {
        try {
            callbacks.execute(call);
        } catch (RejectedExecutionException closing) {
            call.run();
        }
    }

    @Override
    public void close() {
        Link open;
        synchronized (this) {
            closed = true;
            open = link;
        }
        if (open != null) {
            open.channel.close();
        }
    }
}
