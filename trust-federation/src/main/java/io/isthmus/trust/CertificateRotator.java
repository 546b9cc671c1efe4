package io.isthmus.trust;

import static java.util.Objects.requireNonNull;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.nio.file.Files;
import java.security.KeyPair;
import java.security.cert.CertificateException;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;

import javax.net.ssl.SSLException;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import io.grpc.Attributes;
import io.grpc.ManagedChannel;
import io.grpc.Metadata;
import io.grpc.StatusRuntimeException;
import io.grpc.netty.GrpcSslContexts;
import io.grpc.netty.NettyChannelBuilder;
import io.grpc.stub.MetadataUtils;
import io.isthmus.trust.grpc.IstioCertificateRequest;
import io.isthmus.trust.grpc.IstioCertificateResponse;
import io.isthmus.trust.grpc.IstioCertificateServiceGrpc;

/**
 * Keeps a workload certificate fresh by calling the CA's CSR API: a new ECDSA P-256 key per
 * request (never sent anywhere), the service-account token re-read from its file each time,
 * renewal at half the certificate's remaining lifetime, and bounded exponential backoff with
 * jitter while the CA is unreachable. A failed renewal keeps the current certificate; an expired
 * certificate is never handed out. Each response is checked: the leaf must carry the expected
 * identity, match the local key, and chain to the configured roots.
 *
 * <p>The CA is reached over TLS, its certificate verified against {@code caTrustRoots} and the
 * DNS name {@code caAuthority}; the roots are read per handshake (root rotation). The rotator owns one scheduler thread (all requests and listener
 * callbacks run on it) and one gRPC channel; {@link #close()} releases both. Thread-safe.
 */
public final class CertificateRotator implements AutoCloseable {

    private static final Logger log = LoggerFactory.getLogger(CertificateRotator.class);
    private static final Metadata.Key<String> AUTHORIZATION = Metadata.Key.of("authorization", Metadata.ASCII_STRING_MARSHALLER);
    private static final Metadata.Key<String> CLUSTER_ID =
            Metadata.Key.of(IstioCertificateServiceImpl.CLUSTER_ID_HEADER, Metadata.ASCII_STRING_MARSHALLER);
    private static final Duration MIN_RENEW_DELAY = Duration.ofMillis(100);

    private final CertificateRotatorOptions options;
    private final ScheduledExecutorService scheduler;
    private final ManagedChannel channel;
    private final CompletableFuture<WorkloadCertificate> first = new CompletableFuture<>();
    private final List<Consumer<WorkloadCertificate>> listeners = new CopyOnWriteArrayList<>();
    private volatile WorkloadCertificate current;
    private volatile boolean closed;
    private volatile int consecutiveFailures;

    private CertificateRotator(CertificateRotatorOptions options) {
        this.options = options;
        try {
            NettyChannelBuilder builder = NettyChannelBuilder.forAddress(new InetSocketAddress(options.host(), options.port()))
                    .overrideAuthority(options.caAuthority())
                    .sslContext(GrpcSslContexts.forClient().trustManager(new RootsTrustManager(options::currentTrustRoots)).build());
            options.localAddress().ifPresent(local -> builder.localSocketPicker(new NettyChannelBuilder.LocalSocketPicker() {
                @Override
                public SocketAddress createSocketAddress(SocketAddress remote, Attributes attrs) {
                    return new InetSocketAddress(local, 0);
                }
            }));
            this.channel = builder.build();
        } catch (SSLException e) {
            throw new IllegalStateException("cannot build the TLS context for the CA at " + options.caAddress(), e);
        }
        this.scheduler = Executors.newSingleThreadScheduledExecutor(r -> {
            Thread t = new Thread(r, "isthmus-cert-rotator");
            t.setDaemon(true);
            return t;
        });
    }

    /** Starts requesting the first certificate at once, in the background. */
    public static CertificateRotator start(CertificateRotatorOptions options) {
        requireNonNull(options, "options");
        CertificateRotator rotator = new CertificateRotator(options);
        rotator.scheduler.execute(rotator::attempt);
        return rotator;
    }

    /** Completes with the first certificate; fails only if the rotator is closed before one arrives. */
    public CompletableFuture<WorkloadCertificate> firstCertificate() {
        return first.copy();
    }

    /**
     * The newest valid certificate.
     *
     * @throws IllegalStateException if none has been issued yet or the newest has expired
     */
    public WorkloadCertificate current() {
        WorkloadCertificate c = current;
        if (c == null) {
            throw new IllegalStateException("no workload certificate yet for " + options.expectedIdentity()
                    + " (the CA at " + options.caAddress() + " has not answered)");
        }
        Instant now = options.clock().instant();
        if (!now.isBefore(c.notAfter())) {
            throw new IllegalStateException("workload certificate for " + options.expectedIdentity() + " expired at "
                    + c.notAfter() + " and renewal from " + options.caAddress() + " keeps failing");
        }
        return c;
    }

    /** Failed requests since the last success; 0 when healthy (for readiness and admin pages). */
    public int consecutiveFailures() {
        return consecutiveFailures;
    }

    /**
     * Calls {@code listener} with every new certificate, on the rotator's thread, starting with
     * the current one if there is one.
     */
    public void addListener(Consumer<WorkloadCertificate> listener) {
        requireNonNull(listener, "listener");
        listeners.add(listener);
        if (!closed) {
            scheduler.execute(() -> {
                WorkloadCertificate c = current;
                if (c != null) {
                    notify(listener, c);
                }
            });
        }
    }

    private void attempt() {
        if (closed) {
            return;
        }
        WorkloadCertificate issued;
        try {
            issued = request();
        } catch (Exception e) {
            consecutiveFailures++;
            long base = options.initialBackoff().toMillis() << Math.min(consecutiveFailures - 1, 20);
            long capped = Math.min(base, options.maxBackoff().toMillis());
            long delay = capped / 2 + ThreadLocalRandom.current().nextLong(capped / 2 + 1);
            log.warn("Certificate request for {} to {} failed ({} in a row), retrying in {} ms: {}",
                    options.expectedIdentity(), options.caAddress(), consecutiveFailures, delay, e.toString());
            schedule(Duration.ofMillis(delay));
            return;
        }
        consecutiveFailures = 0;
        current = issued;
        first.complete(issued);
        Instant now = options.clock().instant();
        Duration renewIn = Duration.between(now, issued.notAfter()).dividedBy(2);
        if (renewIn.compareTo(MIN_RENEW_DELAY) < 0) {
            renewIn = MIN_RENEW_DELAY;
        }
        log.info("Got certificate {}, renewing in {}", issued, renewIn);
        for (Consumer<WorkloadCertificate> l : listeners) {
            notify(l, issued);
        }
        schedule(renewIn);
    }

    private void schedule(Duration delay) {
        if (closed) {
            return;
        }
        try {
            scheduler.schedule(this::attempt, delay.toMillis(), TimeUnit.MILLISECONDS);
        } catch (java.util.concurrent.RejectedExecutionException e) {
            // Closed concurrently.
        }
    }

    private static void notify(Consumer<WorkloadCertificate> listener, WorkloadCertificate c) {
        try {
            listener.accept(c);
        } catch (RuntimeException e) {
            log.error("Certificate listener {} failed", listener, e);
        }
    }

    private WorkloadCertificate request() throws IOException, CertificateException {
        String token = Files.readString(options.tokenFile()).strip();
        if (token.isEmpty()) {
            throw new IOException("token file " + options.tokenFile() + " is empty");
        }
        KeyPair keys = WorkloadKeys.newKeyPair();
        Metadata headers = new Metadata();
        headers.put(AUTHORIZATION, "Bearer " + token);
        if (!options.clusterId().isEmpty()) {
            headers.put(CLUSTER_ID, options.clusterId());
        }
        IstioCertificateResponse response;
        try {
            response = IstioCertificateServiceGrpc.newBlockingStub(channel)
                    .withInterceptors(MetadataUtils.newAttachHeadersInterceptor(headers))
                    .withDeadlineAfter(options.requestTimeout().toMillis(), TimeUnit.MILLISECONDS)
                    .createCertificate(IstioCertificateRequest.newBuilder()
                            .setCsr(WorkloadKeys.csrPem(keys, options.expectedIdentity()))
                            .setValidityDuration(Math.max(1, options.ttl().toSeconds()))
                            .build());
        } catch (StatusRuntimeException e) {
            throw new IOException("CreateCertificate failed: " + e.getStatus().getCode() + ": " + e.getStatus().getDescription(), e);
        }
        List<X509Certificate> chain = new ArrayList<>();
        for (String pem : response.getCertChainList()) {
            try {
                chain.addAll(Pem.decodeCertificates(pem));
            } catch (IllegalArgumentException e) {
                throw new CertificateException("CA returned a malformed certificate: " + e.getMessage(), e);
            }
        }
        if (chain.isEmpty()) {
            throw new CertificateException("CA returned an empty cert_chain");
        }
        X509Certificate leaf = chain.get(0);
        if (!Arrays.equals(leaf.getPublicKey().getEncoded(), keys.getPublic().getEncoded())) {
            throw new CertificateException("CA returned a leaf for a different public key than the CSR's");
        }
        SpiffeId got;
        try {
            got = Certificates.spiffeId(leaf);
        } catch (IllegalArgumentException e) {
            throw new CertificateException("CA returned a leaf without a single SPIFFE ID: " + e.getMessage(), e);
        }
        if (!got.equals(options.expectedIdentity())) {
            throw new CertificateException("CA issued " + got + " (expected: " + options.expectedIdentity()
                    + "); check the token's service account");
        }
        Certificates.verifyChain(chain, options.currentTrustRoots(), options.clock().instant());
        return new WorkloadCertificate(keys.getPrivate(), chain);
    }

    /** Stops renewing and releases the thread and channel. The current certificate stays readable. */
    @Override
    public void close() {
        closed = true;
        scheduler.shutdownNow();
        channel.shutdownNow();
        first.completeExceptionally(new IllegalStateException("certificate rotator closed"));
        try {
            scheduler.awaitTermination(5, TimeUnit.SECONDS);
            channel.awaitTermination(5, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
