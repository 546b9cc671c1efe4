package io.isthmus.topologies.sample;

import static java.util.Objects.requireNonNull;

import io.netty.bootstrap.ServerBootstrap;
import io.netty.channel.Channel;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.nio.NioIoHandler;
import io.netty.channel.socket.SocketChannel;
import io.netty.channel.socket.nio.NioServerSocketChannel;
import io.grpc.Server;
import io.grpc.netty.NettyServerBuilder;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.OptionalInt;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The sample app of local topologies: answers every HTTP request (HTTP/1.1, or h2c with prior
 * knowledge, on the same port) with a JSON description of who answered and what it received;
 * echoes WebSocket messages on {@code /ws}; echoes raw bytes on the optional TCP port; answers the
 * same JSON over gRPC ({@code isthmus.sample.v1.Echo/Echo}) on the optional gRPC port.
 *
 * <p>The JSON object has exactly the fields of docs/design/contracts.md: {@code cluster, version,
 * pod, namespace, locality, protocol, method, path, callerIdentity, forwardedFor, headers}, where
 * {@code callerIdentity} is the {@code URI=} of the last element of {@code x-forwarded-client-cert}
 * and {@code forwardedFor} the last entry of {@code x-forwarded-for} (both null when absent).
 *
 * <p>Thread-safe; {@link #close()} stops the listeners and the event loops.
 */
public final class EchoServer implements AutoCloseable {

    private static final Logger log = LoggerFactory.getLogger(EchoServer.class);

    /** What the server says about itself and where it listens. */
    public record Options(
            String address,
            int httpPort,
            OptionalInt tcpPort,
            OptionalInt grpcPort,
            String cluster,
            String version,
            String pod,
            String namespace,
            String locality) {

        public Options {
            requireNonNull(address, "address");
            requireNonNull(tcpPort, "tcpPort");
            requireNonNull(grpcPort, "grpcPort");
            requireNonNull(cluster, "cluster");
            requireNonNull(version, "version");
            requireNonNull(pod, "pod");
            requireNonNull(namespace, "namespace");
            requireNonNull(locality, "locality");
            if (httpPort < 0 || httpPort > 65535) {
                throw new IllegalArgumentException("httpPort: " + httpPort + " (expected: 0..65535, 0 for any)");
            }
            if (tcpPort.isPresent() && (tcpPort.getAsInt() < 0 || tcpPort.getAsInt() > 65535)) {
                throw new IllegalArgumentException("tcpPort: " + tcpPort.getAsInt() + " (expected: 0..65535)");
            }
            if (grpcPort.isPresent() && (grpcPort.getAsInt() < 0 || grpcPort.getAsInt() > 65535)) {
                throw new IllegalArgumentException("grpcPort: " + grpcPort.getAsInt() + " (expected: 0..65535)");
            }
        }

        /** Without gRPC. */
        public Options(String address, int httpPort, OptionalInt tcpPort, String cluster, String version, String pod,
                String namespace, String locality) {
            this(address, httpPort, tcpPort, OptionalInt.empty(), cluster, version, pod, namespace, locality);
        }

        /** Parses the command line of docs/design/contracts.md. */
        public static Options fromArgs(String... args) {
            Map<String, String> flags = new LinkedHashMap<>();
            for (int i = 0; i < args.length; i++) {
                String flag = args[i];
                if (!flag.startsWith("--")) {
                    throw new IllegalArgumentException("argument: '" + flag + "' (expected: --flag value)");
                }
                String value;
                int eq = flag.indexOf('=');
                if (eq > 0) {
                    value = flag.substring(eq + 1);
                    flag = flag.substring(0, eq);
                } else if (i + 1 < args.length) {
                    value = args[++i];
                } else {
                    throw new IllegalArgumentException(flag + ": missing value");
                }
                flags.put(flag.substring(2), value);
            }
            List<String> known = List.of("address", "http-port", "tcp-port", "grpc-port", "cluster", "version", "pod", "namespace",
                    "locality");
            for (String f : flags.keySet()) {
                if (!known.contains(f)) {
                    throw new IllegalArgumentException("--" + f + ": unknown flag (expected one of --"
                            + String.join(", --", known) + ")");
                }
            }
            return new Options(
                    flags.getOrDefault("address", "127.0.0.1"),
                    port(flags, "http-port").orElse(5000),
                    port(flags, "tcp-port").map(OptionalInt::of).orElse(OptionalInt.empty()),
                    port(flags, "grpc-port").map(OptionalInt::of).orElse(OptionalInt.empty()),
                    flags.getOrDefault("cluster", ""),
                    flags.getOrDefault("version", "v1"),
                    flags.getOrDefault("pod", "echo"),
                    flags.getOrDefault("namespace", "default"),
                    flags.getOrDefault("locality", ""));
        }

        private static Optional<Integer> port(Map<String, String> flags, String name) {
            String v = flags.get(name);
            if (v == null) {
                return Optional.empty();
            }
            try {
                return Optional.of(Integer.parseInt(v));
            } catch (NumberFormatException e) {
                throw new IllegalArgumentException("--" + name + ": '" + v + "' (expected: a port number)");
            }
        }
    }

    private final Options options;
    private final EventLoopGroup group;
    private final Channel httpChannel;
    private final Channel tcpChannel;
    private final Server grpcServer;

    private EchoServer(Options options, EventLoopGroup group, Channel httpChannel, Channel tcpChannel,
            Server grpcServer) {
        this.options = options;
        this.group = group;
        this.httpChannel = httpChannel;
        this.tcpChannel = tcpChannel;
        this.grpcServer = grpcServer;
    }

    /** Binds the listeners; fails (and releases everything) if a port cannot be bound. */
    public static EchoServer start(Options options) throws InterruptedException {
        requireNonNull(options, "options");
        EventLoopGroup group = new MultiThreadIoEventLoopGroup(1, NioIoHandler.newFactory());
        try {
            EchoIdentity identity = new EchoIdentity(options.cluster(), options.version(), options.pod(),
                    options.namespace(), options.locality());
            Channel http = bind(group, new InetSocketAddress(options.address(), options.httpPort()),
                    new ChannelInitializer<SocketChannel>() {
                        @Override
                        protected void initChannel(SocketChannel ch) {
                            ch.pipeline().addLast(new EchoProtocolSniffer(identity));
                        }
                    });
            Channel tcp = null;
            if (options.tcpPort().isPresent()) {
                tcp = bind(group, new InetSocketAddress(options.address(), options.tcpPort().getAsInt()),
                        new ChannelInitializer<SocketChannel>() {
                            @Override
                            protected void initChannel(SocketChannel ch) {
                                ch.pipeline().addLast(new TcpEchoHandler());
                            }
                        });
            }
            Server grpc = null;
            if (options.grpcPort().isPresent()) {
                InetSocketAddress address = new InetSocketAddress(options.address(), options.grpcPort().getAsInt());
                try {
                    grpc = NettyServerBuilder.forAddress(address)
                            .bossEventLoopGroup(group)
                            .workerEventLoopGroup(group)
                            .channelType(NioServerSocketChannel.class)
                            .addService(GrpcEchoService.definition(identity))
                            .build()
                            .start();
                } catch (IOException e) {
                    closeQuietly(http, tcp);
                    throw new IllegalStateException("cannot listen on " + address.getHostString() + ':'
                            + address.getPort() + ": " + e.getMessage(), e);
                }
            }
            return new EchoServer(options, group, http, tcp, grpc);
        } catch (RuntimeException | InterruptedException e) {
            group.shutdownGracefully(0, 1, TimeUnit.SECONDS);
            throw e;
        }
    }

    private static void closeQuietly(Channel... channels) {
        for (Channel c : channels) {
            if (c != null) {
                c.close().awaitUninterruptibly();
            }
        }
    }

    private static Channel bind(EventLoopGroup group, InetSocketAddress address, ChannelInitializer<SocketChannel> init)
            throws InterruptedException {
        var future = new ServerBootstrap()
                .group(group)
                .channel(NioServerSocketChannel.class)
                .option(ChannelOption.SO_REUSEADDR, true)
                .childOption(ChannelOption.TCP_NODELAY, true)
                .childHandler(init)
                .bind(address)
                .await();
        if (!future.isSuccess()) {
            throw new IllegalStateException("cannot listen on " + address.getHostString() + ':' + address.getPort()
                    + ": " + future.cause().getMessage(), future.cause());
        }
        return future.channel();
    }

    public Options options() {
        return options;
    }

    /** Where HTTP, h2c and WebSocket are served (the actual port when 0 was asked). */
    public InetSocketAddress httpAddress() {
        return (InetSocketAddress) httpChannel.localAddress();
    }

    /** Where gRPC ({@code isthmus.sample.v1.Echo/Echo}) is served, if enabled. */
    public Optional<InetSocketAddress> grpcAddress() {
        return Optional.ofNullable(grpcServer).map(s -> (InetSocketAddress) s.getListenSockets().get(0));
    }

    /** Where raw TCP echo is served, if enabled. */
    public Optional<InetSocketAddress> tcpAddress() {
        return Optional.ofNullable(tcpChannel).map(c -> (InetSocketAddress) c.localAddress());
    }

    @Override
    public void close() {
        if (grpcServer != null) {
            grpcServer.shutdownNow();
            try {
                grpcServer.awaitTermination(2, TimeUnit.SECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
        List<Channel> channels = new ArrayList<>();
        channels.add(httpChannel);
        if (tcpChannel != null) {
            channels.add(tcpChannel);
        }
        channels.forEach(c -> c.close().awaitUninterruptibly());
        group.shutdownGracefully(0, 2, TimeUnit.SECONDS).awaitUninterruptibly();
    }

    public static void main(String[] args) throws InterruptedException {
        Options options;
        try {
            options = Options.fromArgs(args);
        } catch (IllegalArgumentException e) {
            System.err.println("echo: " + e.getMessage());
            System.exit(2);
            return;
        }
        EchoServer server;
        try {
            server = start(options);
        } catch (IllegalStateException e) {
            System.err.println("echo: " + e.getMessage());
            System.exit(1);
            return;
        }
        CountDownLatch stopped = new CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            server.close();
            stopped.countDown();
        }, "echo-shutdown"));
        log.info("echo server {} ({} {}) listening on http {}{}", options.pod(), options.cluster(), options.version(),
                server.httpAddress(), server.tcpAddress().map(a -> ", tcp " + a).orElse("")
                        + server.grpcAddress().map(a -> ", grpc " + a).orElse(""));
        stopped.await();
    }
}
