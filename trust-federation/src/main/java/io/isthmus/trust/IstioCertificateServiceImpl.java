package io.isthmus.trust;

import static java.util.Objects.requireNonNull;

import java.security.cert.X509Certificate;
import java.time.Duration;
import java.util.List;
import java.util.function.Function;
import java.util.function.Supplier;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import io.grpc.Context;
import io.grpc.Contexts;
import io.grpc.Metadata;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.ServerInterceptor;
import io.grpc.ServerInterceptors;
import io.grpc.ServerServiceDefinition;
import io.grpc.Status;
import io.grpc.stub.StreamObserver;
import io.isthmus.trust.grpc.IstioCertificateRequest;
import io.isthmus.trust.grpc.IstioCertificateResponse;
import io.isthmus.trust.grpc.IstioCertificateServiceGrpc;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.MeterRegistry;

/**
 * Istio's CSR API ({@code istio.v1.auth.IstioCertificateService/CreateCertificate}), served by the
 * controller. The caller proves its identity with {@code authorization: Bearer <service-account
 * token>} (audience {@value #AUDIENCE}); the certificate's only SAN is that identity, never one taken from the
 * CSR (a CSR asking for another identity is refused with {@code PERMISSION_DENIED}).
 * Errors: {@code UNAUTHENTICATED} (no or bad token, unknown {@code ClusterID}), {@code INVALID_ARGUMENT}
 * (bad CSR or duration), {@code UNAVAILABLE} (no CA loaded yet), each with a precise description and
 * counted in {@code isthmus_csr_rejected_total{reason}}; issues are counted in
 * {@code isthmus_csr_issued_total}.
 *
 * <p>Register {@link #serviceDefinition()} (which installs the token interceptor), not this object
 * directly: without the interceptor every call is UNAUTHENTICATED. Thread-safe.
 */
public final class IstioCertificateServiceImpl extends IstioCertificateServiceGrpc.IstioCertificateServiceImplBase {

    public static final String AUDIENCE = "istio-ca";
    public static final String ISSUED_METRIC = "isthmus.csr.issued";
    public static final String REJECTED_METRIC = "isthmus.csr.rejected";

    private static final Logger log = LoggerFactory.getLogger(IstioCertificateServiceImpl.class);
    private static final Metadata.Key<String> AUTHORIZATION = Metadata.Key.of("authorization", Metadata.ASCII_STRING_MARSHALLER);
    private static final Context.Key<String> BEARER_TOKEN = Context.key("isthmus-bearer-token");
    /** Istio's header naming the caller's cluster, for callers from remote clusters. */
    public static final String CLUSTER_ID_HEADER = "ClusterID";
    private static final Metadata.Key<String> CLUSTER_ID = Metadata.Key.of(CLUSTER_ID_HEADER, Metadata.ASCII_STRING_MARSHALLER);
    private static final Context.Key<String> CALLER_CLUSTER = Context.key("isthmus-caller-cluster");

    private final Supplier<CertificateAuthority> ca;
    private final Supplier<ServiceAccountTokenVerifier> verifier;
    private final String trustDomain;
    private final Duration defaultTtl;
    private final Duration maxTtl;
    private final MeterRegistry registry;
    private final Counter issued;
    private final String localCluster;
    private final Function<String, ServiceAccountTokenVerifier> remoteVerifiers;

    public IstioCertificateServiceImpl(Supplier<CertificateAuthority> ca, ServiceAccountTokenVerifier verifier,
            String trustDomain, Duration defaultTtl, Duration maxTtl, MeterRegistry registry) {
        this(ca, constant(requireNonNull(verifier, "verifier")), trustDomain, defaultTtl, maxTtl, registry);
    }

    /** With a verifier supplier, read per call, so a rotated issuer JWKS takes effect at once. */
    public IstioCertificateServiceImpl(Supplier<CertificateAuthority> ca, Supplier<ServiceAccountTokenVerifier> verifier,
            String trustDomain, Duration defaultTtl, Duration maxTtl, MeterRegistry registry) {
        this.ca = requireNonNull(ca, "ca");
        this.verifier = requireNonNull(verifier, "verifier");
        this.trustDomain = requireNonNull(trustDomain, "trustDomain");
        SpiffeId.of(trustDomain, "ns", "sa");
        this.defaultTtl = requireNonNull(defaultTtl, "defaultTtl");
        this.maxTtl = requireNonNull(maxTtl, "maxTtl");
        if (defaultTtl.compareTo(CertificateAuthority.MIN_TTL) < 0 || defaultTtl.compareTo(maxTtl) > 0) {
            throw new IllegalArgumentException("defaultTtl: " + defaultTtl + " (expected: between " + CertificateAuthority.MIN_TTL
                    + " and maxTtl " + maxTtl + ")");
        }
        if (maxTtl.compareTo(CertificateAuthority.MAX_TTL) > 0) {
            throw new IllegalArgumentException("maxTtl: " + maxTtl + " (expected: <= " + CertificateAuthority.MAX_TTL + ")");
        }
        this.registry = requireNonNull(registry, "registry");
        this.issued = Counter.builder(ISSUED_METRIC).description("Workload certificates issued").register(registry);
        this.localCluster = null;
        this.remoteVerifiers = cluster -> null;
    }

    private IstioCertificateServiceImpl(IstioCertificateServiceImpl base, String localCluster,
            Function<String, ServiceAccountTokenVerifier> remoteVerifiers) {
        this.ca = base.ca;
        this.verifier = base.verifier;
        this.trustDomain = base.trustDomain;
        this.defaultTtl = base.defaultTtl;
        this.maxTtl = base.maxTtl;
        this.registry = base.registry;
        this.issued = base.issued;
        this.localCluster = requireNonNull(localCluster, "localCluster");
        this.remoteVerifiers = requireNonNull(remoteVerifiers, "remoteVerifiers");
    }

    /**
     * A copy that knows which cluster it serves: a caller sending {@code ClusterID: <localCluster>}
     * (or no ClusterID) is checked with this service's own verifier; {@code ClusterID: <other>} is
     * checked with {@code remoteVerifiers.apply(other)} (the issuer keys of that cluster, e.g. from
     * its remote secret), and refused as {@code UNAUTHENTICATED}/{@code unknown_cluster} when that
     * returns null. Without this, a ClusterID header is ignored.
     */
    public IstioCertificateServiceImpl withCallerClusters(String localCluster,
            Function<String, ServiceAccountTokenVerifier> remoteVerifiers) {
        return new IstioCertificateServiceImpl(this, localCluster, remoteVerifiers);
    }

    private static <T> Supplier<T> constant(T value) {
        return () -> value;
    }

    /** This service with {@link #authInterceptor()} installed: what the gRPC server should register. */
    public ServerServiceDefinition serviceDefinition() {
        return ServerInterceptors.intercept(this, authInterceptor());
    }

    /** Copies the bearer token from {@code authorization} metadata into the call's context. */
    public static ServerInterceptor authInterceptor() {
        return new ServerInterceptor() {
            @Override
            public <Q, R> ServerCall.Listener<Q> interceptCall(ServerCall<Q, R> call, Metadata headers,
                    ServerCallHandler<Q, R> next) {
                String value = headers.get(AUTHORIZATION);
                String cluster = headers.get(CLUSTER_ID);
                String token = null;
                if (value != null && value.regionMatches(true, 0, "Bearer ", 0, 7)) {
                    token = value.substring(7).strip();
                }
                Context context = Context.current().withValue(BEARER_TOKEN, token).withValue(CALLER_CLUSTER, cluster);
                return Contexts.interceptCall(context, call, headers, next);
            }
        };
    }

    @Override
    public void createCertificate(IstioCertificateRequest request, StreamObserver<IstioCertificateResponse> response) {
        String token = BEARER_TOKEN.get();
        if (token == null || token.isEmpty()) {
            reject(response, Status.UNAUTHENTICATED, "no_token",
                    "missing \"authorization: Bearer <service-account token>\" metadata");
            return;
        }
        String callerCluster = CALLER_CLUSTER.get();
        boolean remote = localCluster != null && callerCluster != null && !callerCluster.equals(localCluster);
        VerifiedServiceAccount account;
        try {
            ServiceAccountTokenVerifier v;
            if (remote) {
                v = remoteVerifiers.apply(callerCluster);
                if (v == null) {
                    reject(response, Status.UNAUTHENTICATED, "unknown_cluster", "ClusterID: " + SpiffeId.printable(callerCluster)
                            + " is not a cluster this CA knows (expected: " + localCluster
                            + ", or a remote cluster registered with a remote secret)");
                    return;
                }
            } else {
                v = verifier.get();
            }
            if (v == null) {
                reject(response, Status.UNAVAILABLE, "no_verifier", "service-account token issuer keys are not loaded yet; retry");
                return;
            }
            account = v.verify(token, AUDIENCE);
        } catch (TokenRejectedException e) {
            String hint = "";
            if (e.reason().equals("wrong_issuer") && callerCluster == null && localCluster != null) {
                hint = "; a caller from a remote cluster must send the " + CLUSTER_ID_HEADER + " header naming its cluster";
            }
            reject(response, Status.UNAUTHENTICATED, "token_" + e.reason(), "service-account token rejected: " + e.getMessage()
                    + (remote ? " (ClusterID " + callerCluster + ")" : "") + hint);
            return;
        }
        long seconds = request.getValidityDuration();
        Duration ttl;
        if (seconds < 0) {
            reject(response, Status.INVALID_ARGUMENT, "invalid_ttl", "validity_duration: " + seconds + " (expected: >= 0 seconds; 0 for the default)");
            return;
        } else if (seconds == 0) {
            ttl = defaultTtl;
        } else if (seconds > maxTtl.toSeconds()) {
            reject(response, Status.INVALID_ARGUMENT, "invalid_ttl", "validity_duration: " + seconds
                    + " s (expected: <= " + maxTtl.toSeconds() + " s)");
            return;
        } else {
            ttl = Duration.ofSeconds(seconds);
        }
        CertificateAuthority authority = ca.get();
        if (authority == null) {
            reject(response, Status.UNAVAILABLE, "no_ca", "the CA is not loaded yet; retry");
            return;
        }
        SpiffeId identity = account.spiffeId(trustDomain);
        List<X509Certificate> chain;
        try {
            chain = authority.signCsr(request.getCsr(), identity, ttl);
        } catch (CsrRejectedException e) {
            // Asking for someone else's identity is a permission problem, not a syntax one.
            Status status = e.reason().equals("identity_mismatch") ? Status.PERMISSION_DENIED : Status.INVALID_ARGUMENT;
            reject(response, status, e.reason(), "CSR rejected: " + e.getMessage());
            return;
        } catch (RuntimeException e) {
            log.error("Signing a certificate for {} failed", identity, e);
            reject(response, Status.INTERNAL, "internal", "signing failed: " + e.getMessage());
            return;
        }
        IstioCertificateResponse.Builder out = IstioCertificateResponse.newBuilder();
        for (X509Certificate c : chain) {
            out.addCertChain(Pem.encodeCertificate(c));
        }
        issued.increment();
        log.info("Issued {} (pod {}) serial {} valid until {}", identity, account.podName(),
                chain.get(0).getSerialNumber().toString(16), chain.get(0).getNotAfter().toInstant());
        response.onNext(out.build());
        response.onCompleted();
    }

    private void reject(StreamObserver<IstioCertificateResponse> response, Status status, String reason, String message) {
        Counter.builder(REJECTED_METRIC).description("CSR requests rejected, by reason")
                .tag("reason", reason).register(registry).increment();
        log.warn("CSR rejected ({}): {}", reason, message);
        response.onError(status.withDescription(message).asRuntimeException());
    }
}
