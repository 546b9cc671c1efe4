package io.isthmus.trust;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import io.netty.bootstrap.Bootstrap;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.nio.NioIoHandler;
import io.netty.channel.socket.SocketChannel;
import io.netty.channel.socket.nio.NioServerSocketChannel;
import io.netty.channel.socket.nio.NioSocketChannel;
import io.netty.handler.ssl.SslContext;
import io.netty.handler.ssl.SslContextBuilder;
import io.netty.handler.ssl.SslProvider;
import io.netty.handler.ssl.SslHandler;
import io.netty.handler.ssl.SslHandshakeCompletionEvent;

/** Real TLS handshakes over loopback between {@link MeshTls} server and client contexts. */
class MeshTlsTest {

    private static final CertificateAuthority ROOT = CertificateAuthority.createRoot("Isthmus", Duration.ofDays(30));
    private static final CertificateAuthority EAST = ROOT.createIntermediate("east", Duration.ofDays(10));
    private static final CertificateAuthority WEST = ROOT.createIntermediate("west", Duration.ofDays(10));
    private static final CertificateAuthority OTHER = CertificateAuthority.createRoot("Other", Duration.ofDays(30))
            .createIntermediate("east", Duration.ofDays(10));
    private static final SpiffeId HELLO = SpiffeId.of("cluster.local", "sample", "helloworld");
    private static final SpiffeId CURL = SpiffeId.of("cluster.local", "sample", "curl");

    private final EventLoopGroup group = new MultiThreadIoEventLoopGroup(2, NioIoHandler.newFactory());
    private final SimpleMeterRegistry serverMetrics = new SimpleMeterRegistry();
    private final TrustBundle bundle = TrustBundle.of("cluster.local", List.of(ROOT.certificate()));

    @AfterEach
    void shutdown() throws Exception {
        group.shutdownGracefully(0, 1, TimeUnit.SECONDS).sync();
    }

    @Test
    void handshakeAcrossClusterIntermediatesExposesBothPeerIdentities() throws Exception {
        WorkloadCertificate server = EAST.issue(HELLO, List.of(), Duration.ofHours(1));
        WorkloadCertificate client = WEST.issue(CURL, List.of(), Duration.ofHours(1));
        AtomicReference<Optional<SpiffeId>> seenByServer = new AtomicReference<>();
        Channel listener = startServer(MeshTls.serverContext(() -> server, () -> bundle, true, List.of("http/1.1"), serverMetrics),
                seenByServer);

        Result result = connect(MeshTls.clientContext(() -> client, () -> bundle, List.of("http/1.1")), listener);

        assertThat(result.error()).isNull();
        assertThat(result.serverIdentity()).contains(HELLO);
        assertThat(result.alpn()).isEqualTo("http/1.1");
        assertThat(result.protocol()).isEqualTo("TLSv1.3");
        assertThat(result.reply()).isEqualTo(CURL.uri());
        assertThat(seenByServer.get()).contains(CURL);
        listener.close().sync();
    }

    @Test
    void tls12PeerIsVerifiedTheSameWay() throws Exception {
        WorkloadCertificate server = EAST.issue(HELLO, List.of(), Duration.ofHours(1));
        WorkloadCertificate client = WEST.issue(CURL, List.of(), Duration.ofHours(1));
        AtomicReference<Optional<SpiffeId>> seenByServer = new AtomicReference<>();
        Channel listener = startServer(MeshTls.serverContext(() -> server, () -> bundle, true, List.of(), serverMetrics),
                seenByServer);
        SslContext tls12 = SslContextBuilder.forClient()
                .keyManager(new RotatingKeyManager(() -> client))
                .trustManager(new SpiffeTrustManager(() -> bundle, new SimpleMeterRegistry()))
                .endpointIdentificationAlgorithm(null)
                .sslProvider(SslProvider.JDK)
                .protocols("TLSv1.2")
                .build();

        Result result = connect(tls12, listener);

        assertThat(result.error()).isNull();
        assertThat(result.protocol()).isEqualTo("TLSv1.2");
        assertThat(result.serverIdentity()).contains(HELLO);
        assertThat(seenByServer.get()).contains(CURL);
        listener.close().sync();
    }

    @Test
    void clientWithCertificateFromAnotherRootIsRejectedAndCounted() throws Exception {
        WorkloadCertificate server = EAST.issue(HELLO, List.of(), Duration.ofHours(1));
        WorkloadCertificate intruder = OTHER.issue(CURL, List.of(), Duration.ofHours(1));
        Channel listener = startServer(MeshTls.serverContext(() -> server, () -> bundle, true, List.of(), serverMetrics),
                new AtomicReference<>());
        TrustBundle both = bundle.withRoots(List.of(OTHER.root()));

        Result result = connect(MeshTls.clientContext(() -> intruder, () -> both, List.of()), listener);

        assertThat(result.reply()).isNull();
        assertThat(serverMetrics.get(SpiffeTrustManager.FAILURES_METRIC).tag("reason", "untrusted_chain").counter().count())
                .isEqualTo(1.0);
        listener.close().sync();
    }

    @Test
    void serverWithCertificateFromAnotherRootIsRejectedByClient() throws Exception {
        WorkloadCertificate impostor = OTHER.issue(HELLO, List.of(), Duration.ofHours(1));
        WorkloadCertificate client = WEST.issue(CURL, List.of(), Duration.ofHours(1));
        Channel listener = startServer(MeshTls.serverContext(() -> impostor, () -> bundle, true, List.of(), serverMetrics),
                new AtomicReference<>());

        Result result = connect(MeshTls.clientContext(() -> client, () -> bundle, List.of()), listener);

        assertThat(result.error()).isNotNull();
        assertThat(result.error()).hasStackTraceContaining("peer rejected (untrusted_chain)");
        listener.close().sync();
    }

    @Test
    void trustDomainAliasAdmitsAPeerAndAnUnknownDomainIsRefusedAndCounted() throws Exception {
        // The mesh migrated from old.example.com: its workloads keep their old identities for a while.
        TrustBundle withAlias = new TrustBundle("cluster.local", java.util.Set.of("old.example.com"), List.of(ROOT.certificate()));
        WorkloadCertificate server = EAST.issue(HELLO, List.of(), Duration.ofHours(1));
        AtomicReference<Optional<SpiffeId>> seen = new AtomicReference<>();
        Channel listener = startServer(MeshTls.serverContext(() -> server, () -> withAlias, true, List.of(), serverMetrics), seen);
        SpiffeId legacy = SpiffeId.of("old.example.com", "sample", "curl");
        WorkloadCertificate aliasClient = WEST.issue(legacy, List.of(), Duration.ofHours(1));
        WorkloadCertificate strangerClient = WEST.issue(SpiffeId.of("stranger.example.com", "sample", "curl"), List.of(),
                Duration.ofHours(1));

        Result accepted = connect(MeshTls.clientContext(() -> aliasClient, () -> bundle, List.of()), listener);
        Result refused = connect(MeshTls.clientContext(() -> strangerClient, () -> bundle, List.of()), listener);

        assertThat(accepted.reply()).as("the server echoes the identity it verified").isEqualTo(legacy.uri());
        assertThat(seen.get()).contains(legacy);
        assertThat(refused.reply()).isNull();
        assertThat(serverMetrics.get(SpiffeTrustManager.FAILURES_METRIC).tag("reason", "foreign_trust_domain").counter().count())
                .isEqualTo(1.0);
        listener.close().sync();
    }

    @Test
    void newHandshakesUseTheRotatedCertificate() throws Exception {
        AtomicReference<WorkloadCertificate> current = new AtomicReference<>(EAST.issue(HELLO, List.of(), Duration.ofHours(1)));
        WorkloadCertificate client = WEST.issue(CURL, List.of(), Duration.ofHours(1));
        Channel listener = startServer(MeshTls.serverContext(current::get, () -> bundle, true, List.of(), serverMetrics),
                new AtomicReference<>());
        // A fresh client context per connection: a cached client session would resume without a new certificate.
        assertThat(connect(MeshTls.clientContext(() -> client, () -> bundle, List.of()), listener).serverSerial())
                .isEqualTo(current.get().leaf().getSerialNumber());
        current.set(WEST.issue(HELLO, List.of(), Duration.ofHours(1)));
        assertThat(connect(MeshTls.clientContext(() -> client, () -> bundle, List.of()), listener).serverSerial())
                .isEqualTo(current.get().leaf().getSerialNumber());
        listener.close().sync();
    }

    private Channel startServer(SslContext context, AtomicReference<Optional<SpiffeId>> seen) throws InterruptedException {
        return new ServerBootstrap().group(group).channel(NioServerSocketChannel.class)
                .childHandler(new ChannelInitializer<SocketChannel>() {
                    @Override
                    protected void initChannel(SocketChannel ch) {
                        SslHandler ssl = context.newHandler(ch.alloc());
                        ch.pipeline().addLast(ssl, new ChannelInboundHandlerAdapter() {
                            @Override
                            public void userEventTriggered(ChannelHandlerContext ctx, Object evt) {
                                if (evt instanceof SslHandshakeCompletionEvent done) {
                                    if (!done.isSuccess()) {
                                        ctx.close();
                                        return;
                                    }
                                    Optional<SpiffeId> peer = MeshTls.peerIdentity(ssl.engine().getSession());
                                    seen.set(peer);
                                    ctx.writeAndFlush(Unpooled.copiedBuffer(peer.map(SpiffeId::uri).orElse("none"), StandardCharsets.UTF_8))
                                            .addListener(ChannelFutureListener.CLOSE);
                                }
                            }
                        });
                    }
                })
                .bind("127.0.0.1", 0).sync().channel();
    }

    record Result(Throwable error, Optional<SpiffeId> serverIdentity, java.math.BigInteger serverSerial, String alpn,
            String protocol, String reply) {
    }

    private Result connect(SslContext context, Channel listener) throws Exception {
        java.net.InetSocketAddress address = (java.net.InetSocketAddress) listener.localAddress();
        CompletableFuture<String> reply = new CompletableFuture<>();
        StringBuilder received = new StringBuilder();
        AtomicReference<SslHandler> handler = new AtomicReference<>();
        Channel ch = new Bootstrap().group(group).channel(NioSocketChannel.class)
                .handler(new ChannelInitializer<SocketChannel>() {
                    @Override
                    protected void initChannel(SocketChannel ch) {
                        SslHandler ssl = context.newHandler(ch.alloc(), "127.0.0.1", address.getPort());
                        handler.set(ssl);
                        ch.pipeline().addLast(ssl, new ChannelInboundHandlerAdapter() {
                            @Override
                            public void channelRead(ChannelHandlerContext ctx, Object msg) {
                                ByteBuf buf = (ByteBuf) msg;
                                try {
                                    received.append(buf.toString(StandardCharsets.UTF_8));
                                } finally {
                                    buf.release();
                                }
                            }

                            @Override
                            public void channelInactive(ChannelHandlerContext ctx) {
                                reply.complete(received.length() == 0 ? null : received.toString());
                            }

                            @Override
                            public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
                                ctx.close();
                            }
                        });
                    }
                })
                .connect(address).sync().channel();
        SslHandler ssl = handler.get();
        io.netty.util.concurrent.Future<Channel> handshake = ssl.handshakeFuture().await();
        String text = reply.get(10, TimeUnit.SECONDS);
        ch.closeFuture().sync();
        if (!handshake.isSuccess()) {
            return new Result(handshake.cause(), Optional.empty(), null, null, null, text);
        }
        var session = ssl.engine().getSession();
        java.security.cert.X509Certificate serverLeaf = (java.security.cert.X509Certificate) session.getPeerCertificates()[0];
        return new Result(null, MeshTls.peerIdentity(session), serverLeaf.getSerialNumber(), ssl.applicationProtocol(),
                session.getProtocol(), text);
    }
}
