package dev.meshgate.pulsar;

/** Whether the shim asks its two batch calls over the frames socket beside a Unix gRPC target (docs/frames.md). */
public enum FramesMode {
    /** Over {@code /path.frames} when the target is {@code unix:/path} without TLS and that socket accepts. */
    AUTO,
    /** gRPC only. */
    OFF
}
