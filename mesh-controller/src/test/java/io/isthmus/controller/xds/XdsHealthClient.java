package io.isthmus.controller.xds;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.grpc.Grpc;
import io.grpc.InsecureChannelCredentials;
import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.health.v1.HealthCheckRequest;
import io.grpc.health.v1.HealthCheckResponse;
import io.grpc.health.v1.HealthGrpc;
import io.grpc.internal.JsonParser;
import io.grpc.xds.XdsChannelCredentials;
import io.grpc.xds.XdsNameResolverProvider;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * A grpc-xds channel to {@code host:port} that calls the gRPC health service, resolved through
 * the bootstrap in a given file. Each one has a scheme of its own, so it gets its own bootstrap
 * and its own xDS client, never the JVM-wide ones that grpc-xds shares by target.
 */
final class XdsHealthClient implements AutoCloseable {
    private static final AtomicInteger CLIENTS = new AtomicInteger();
    private final ManagedChannel channel;

    /** With {@code xdsCredentials} the channel does the mTLS that CDS asks for; else plaintext. */
    @SuppressWarnings({"deprecation", "unchecked"})
    XdsHealthClient(Path bootstrap, String host, int port, boolean xdsCredentials) throws IOException {
        Map<String, ?> config = (Map<String, ?>) JsonParser.parse(Files.readString(bootstrap));
        String scheme = "xds-health-" + CLIENTS.incrementAndGet();
        channel = Grpc.newChannelBuilder(scheme + ":///" + host + ":" + port, xdsCredentials
                        ? XdsChannelCredentials.create(InsecureChannelCredentials.create())
                        : InsecureChannelCredentials.create())
                .nameResolverFactory(XdsNameResolverProvider.createForTest(scheme, config))
                .build();
    }

    HealthCheckResponse call() {
        // Not wait-for-ready: a refused handshake must fail the call, not queue it.
        return HealthGrpc.newBlockingStub(channel).withDeadlineAfter(20, TimeUnit.SECONDS)
                .check(HealthCheckRequest.getDefaultInstance());
    }

    /**
     * The call fails in the connection, for one of {@code reasons} in the status or its causes:
     * so not for want of xDS configuration (the client got as far as dialling the endpoint that
     * CDS and EDS gave it).
     */
    void assertRefusedInConnection(String... reasons) {
        assertThatThrownBy(this::call).isInstanceOfSatisfying(StatusRuntimeException.class, e -> {
            assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.UNAVAILABLE);
            StringBuilder chain = new StringBuilder(String.valueOf(e.getStatus().getDescription()));
            for (Throwable t = e.getStatus().getCause(); t != null; t = t.getCause()) {
                chain.append(" / ").append(t);
            }
            assertThat(chain.toString()).containsAnyOf(reasons);
        });
    }

    @Override
    public void close() throws InterruptedException {
        channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
    }
}
