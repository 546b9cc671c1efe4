package io.isthmus.controller.xds;

import static java.util.Objects.requireNonNull;

import io.envoyproxy.controlplane.server.V3DiscoveryServer;
import io.envoyproxy.envoy.service.discovery.v3.AggregatedDiscoveryServiceGrpc.AggregatedDiscoveryServiceImplBase;
import io.grpc.Server;
import io.grpc.ServerInterceptors;
import io.grpc.ServerServiceDefinition;
import io.grpc.netty.NettyServerBuilder;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetSocketAddress;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The controller's gRPC endpoints: ADS (state of the world and delta) in plaintext, and ADS plus
 * extra services (the CSR API) over TLS, where ADS requires a client certificate matching the
 * node. Serves what {@link MeshSnapshotCache} holds; knows nothing of translation.
 */
public final class XdsServer implements AutoCloseable {

    private static final Logger log = LoggerFactory.getLogger(XdsServer.class);

    private final Server plaintext;
    private final Server secure;

    private XdsServer(Server plaintext, Server secure) {
        this.plaintext = plaintext;
        this.secure = secure;
    }

    /**
     * Binds and starts both servers.
     *
     * @throws UncheckedIOException naming the address when a port cannot be bound
     */
    public static XdsServer start(XdsServerOptions options, MeshSnapshotCache cache, SyncTracker tracker) {
        requireNonNull(options, "options");
        requireNonNull(cache, "cache");
        requireNonNull(tracker, "tracker");
        cache.onProxyGone(tracker::remove);
        V3DiscoveryServer discovery = new V3DiscoveryServer(List.of(tracker), cache.configWatcher());
        AggregatedDiscoveryServiceImplBase ads = discovery.getAggregatedDiscoveryServiceImpl();

        Server plaintext = start(keepAlive(NettyServerBuilder
                .forAddress(new InetSocketAddress(options.bindAddress(), options.plaintextPort())))
                .addService(new AdsService(ads, cache, PeerAuthorizer.PLAINTEXT)), "plaintext xDS",
                options.bindAddress(), options.plaintextPort());
        Server secure = null;
        if (options.secureContext() != null) {
            NettyServerBuilder builder = keepAlive(NettyServerBuilder
                    .forAddress(new InetSocketAddress(options.bindAddress(), options.securePort())))
                    .sslContext(options.secureContext())
                    .addService(ServerInterceptors.intercept(new AdsService(ads, cache, PeerAuthorizer.MUTUAL_TLS),
                            PeerAuthorizer.sslSessionInterceptor()));
            for (ServerServiceDefinition service : options.secureServices()) {
                builder.addService(service);
            }
            try {
                secure = start(builder, "TLS xDS/CA", options.bindAddress(), options.securePort());
            } catch (RuntimeException e) {
                plaintext.shutdownNow();
                throw e;
            }
        }
        return new XdsServer(plaintext, secure);
    }

    /**
     * xDS streams live as long as the proxy: allow client keepalive pings every 10 s (the default
     * 5 min would answer a proxy's 30 s pings with GOAWAY and break its stream).
     */
    private static NettyServerBuilder keepAlive(NettyServerBuilder builder) {
        return builder
                .permitKeepAliveTime(10, TimeUnit.SECONDS)
                .permitKeepAliveWithoutCalls(true)
                .keepAliveTime(60, TimeUnit.SECONDS)
                .keepAliveTimeout(20, TimeUnit.SECONDS);
    }

    private static Server start(NettyServerBuilder builder, String what, String host, int port) {
        try {
            Server server = builder.build().start();
            log.info("{} server listening on {}", what, server.getListenSockets());
            return server;
        } catch (IOException e) {
            throw new UncheckedIOException("cannot listen for " + what + " on " + host + ":" + port + ": "
                    + rootMessage(e) + " (is another process using the port?)", e);
        }
    }

    private static String rootMessage(Throwable t) {
        Throwable root = t;
        while (root.getCause() != null) {
            root = root.getCause();
        }
        return root.getMessage();
    }

    /** The bound plaintext ADS address. */
    public InetSocketAddress plaintextAddress() {
        return (InetSocketAddress) plaintext.getListenSockets().get(0);
    }

    /** The bound TLS address, or null when serving plaintext only. */
    public InetSocketAddress secureAddress() {
        return secure == null ? null : (InetSocketAddress) secure.getListenSockets().get(0);
    }

    @Override
    public void close() {
        plaintext.shutdown();
        if (secure != null) {
            secure.shutdown();
        }
        try {
            if (!plaintext.awaitTermination(2, TimeUnit.SECONDS)) {
                plaintext.shutdownNow();
            }
            if (secure != null && !secure.awaitTermination(2, TimeUnit.SECONDS)) {
                secure.shutdownNow();
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            plaintext.shutdownNow();
            if (secure != null) {
                secure.shutdownNow();
            }
        }
    }
}
