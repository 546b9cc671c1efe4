package io.isthmus.controller.ca;

import static java.util.Objects.requireNonNull;

import io.fabric8.kubernetes.api.model.Secret;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.isthmus.trust.CertificateAuthority;
import io.isthmus.trust.InvalidCacertsException;
import io.isthmus.trust.Pem;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.MeterRegistry;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.security.cert.CertificateEncodingException;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;
import java.util.function.Supplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The controller's signing CA, re-read from Secret {@code istio-system/cacerts} while it runs, so
 * the three phases of a root rotation (a second root in {@code root-cert.pem}, a new intermediate,
 * the old root removed) apply without a restart. A Secret that does not load is refused as a whole:
 * the error names the file at fault, is counted in {@code isthmus_ca_reload_failures_total{file}},
 * and signing goes on with the last good CA, never with a broken chain. A deleted Secret keeps the
 * last good CA too.
 *
 * <p>Polls the Secret (one GET per period on the controller's own API server) on one daemon
 * thread; listeners run on it. {@link #get()} is read per CSR and per TLS handshake. Thread-safe.
 */
public final class CaSource implements Supplier<CertificateAuthority>, AutoCloseable {

    public static final String RELOAD_FAILURES_METRIC = "isthmus.ca.reload.failures";
    public static final Duration DEFAULT_PERIOD = Duration.ofSeconds(1);

    private static final Logger log = LoggerFactory.getLogger(CaSource.class);

    private final KubernetesClient client;
    private final MeterRegistry registry;
    private final List<Consumer<CertificateAuthority>> listeners = new CopyOnWriteArrayList<>();
    private final ScheduledExecutorService executor;
    private volatile CertificateAuthority current;
    // Confined to the executor.
    private Map<String, String> lastFiles;
    private String lastProblem = "";

    public CaSource(KubernetesClient client, CertificateAuthority initial, MeterRegistry registry) {
        this.client = requireNonNull(client, "client");
        this.current = requireNonNull(initial, "initial");
        this.registry = requireNonNull(registry, "registry");
        this.lastFiles = initial.toCacerts();
        this.executor = Executors.newSingleThreadScheduledExecutor(r -> {
            Thread t = new Thread(r, "cacerts-reloader");
            t.setDaemon(true);
            return t;
        });
    }

    /** Called with each newly loaded CA, on the reloader thread. */
    public void addListener(Consumer<CertificateAuthority> listener) {
        listeners.add(requireNonNull(listener, "listener"));
    }

    public CaSource start(Duration period) {
        requireNonNull(period, "period");
        executor.scheduleWithFixedDelay(this::poll, period.toMillis(), period.toMillis(), TimeUnit.MILLISECONDS);
        return this;
    }

    @Override
    public CertificateAuthority get() {
        return current;
    }

    /** One reload attempt; package-private so tests can drive it without waiting. */
    void poll() {
        Secret secret;
        try {
            secret = client.secrets().inNamespace(CacertsLoader.NAMESPACE).withName(CacertsLoader.CACERTS_SECRET).get();
        } catch (RuntimeException e) {
            problem("cannot read Secret " + CacertsLoader.NAMESPACE + "/" + CacertsLoader.CACERTS_SECRET + ": " + e.getMessage());
            return;
        }
        if (secret == null) {
            problem("Secret " + CacertsLoader.NAMESPACE + "/" + CacertsLoader.CACERTS_SECRET
                    + " was deleted; still signing with " + current);
            return;
        }
        Map<String, String> files;
        CertificateAuthority next;
        try {
            files = CacertsLoader.secretFiles(secret);
            if (files.equals(lastFiles)) {
                return;
            }
            next = CertificateAuthority.fromCacerts(files);
        } catch (InvalidCacertsException e) {
            Counter.builder(RELOAD_FAILURES_METRIC).description("cacerts Secret updates refused, by file at fault")
                    .tag("file", e.file()).register(registry).increment();
            // Remember the broken content so it is counted once, not once per poll.
            lastFiles = CacertsLoader.secretFiles(secret);
            log.error("Secret {}/{} refused, still signing with {}: {}", CacertsLoader.NAMESPACE,
                    CacertsLoader.CACERTS_SECRET, current, e.getMessage());
            return;
        }
        lastFiles = files;
        lastProblem = "";
        CertificateAuthority previous = current;
        current = next;
        log.info("CA reloaded from Secret {}/{}: now {} under root {}, trusting {} root(s) {} (was {})",
                CacertsLoader.NAMESPACE, CacertsLoader.CACERTS_SECRET, next.certificate().getSubjectX500Principal(),
                fingerprint(next.root()), next.trustedRoots().size(), fingerprints(next.trustedRoots()), previous);
        for (Consumer<CertificateAuthority> listener : listeners) {
            try {
                listener.accept(next);
            } catch (RuntimeException e) {
                log.error("CA change listener failed", e);
            }
        }
    }

    private void problem(String message) {
        if (!message.equals(lastProblem)) {
            log.warn("{}", message);
            lastProblem = message;
        }
    }

    /** The roots of {@code ca} as one PEM string each. */
    public static List<String> rootsPem(CertificateAuthority ca) {
        return ca.trustedRoots().stream().map(Pem::encodeCertificate).toList();
    }

    /** SHA-256 of the DER encoding, lowercase hex: how tools name a root unambiguously. */
    public static String fingerprint(X509Certificate certificate) {
        try {
            return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(certificate.getEncoded()));
        } catch (NoSuchAlgorithmException | CertificateEncodingException e) {
            throw new IllegalStateException("cannot fingerprint " + certificate.getSubjectX500Principal(), e);
        }
    }

    public static List<String> fingerprints(List<X509Certificate> certificates) {
        return certificates.stream().map(CaSource::fingerprint).toList();
    }

    @Override
    public void close() {
        executor.shutdownNow();
        try {
            executor.awaitTermination(5, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
