package io.isthmus.proxy.grpc;

import static java.util.Objects.requireNonNull;

import io.isthmus.trust.CertificateRotator;
import io.isthmus.trust.CertificateRotatorOptions;
import io.isthmus.trust.Pem;
import io.isthmus.trust.WorkloadCertificate;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.Metrics;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.cert.X509Certificate;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The agent of a proxyless gRPC workload (Istio's {@code pilot-agent} in its gRPC mode, files
 * only): gets the workload's certificate from the controller's CA (a local P-256 key, a CSR with
 * the service-account token), keeps it fresh (renewal at half its lifetime, through
 * {@link CertificateRotator}), and writes what grpc-xds reads: {@code cert-chain.pem},
 * {@code key.pem}, {@code root-cert.pem} and {@code grpc-bootstrap.json} in
 * {@link GrpcAgentOptions#outputDir()}. Each file is replaced whole (written aside, then
 * renamed), the key before its chain, so gRPC's {@code file_watcher} never reads half a file. The
 * key file is readable by its owner only.
 *
 * <p>A renewal that cannot be written keeps the previous files (still valid until their
 * expiry), logs the reason and counts it in {@code isthmus_grpc_agent_write_failures_total}.
 * Thread-safe; {@link #close()} stops renewing and leaves the files.
 */
public final class GrpcAgent implements AutoCloseable {

  private static final Logger log = LoggerFactory.getLogger(GrpcAgent.class);

  private final GrpcAgentOptions options;
  private final CertificateRotator rotator;
  private final CompletableFuture<WorkloadCertificate> firstWritten = new CompletableFuture<>();
  private final Counter writeFailures;
  private volatile WorkloadCertificate written;

  private GrpcAgent(GrpcAgentOptions options, CertificateRotator rotator) {
    this.options = options;
    this.rotator = rotator;
    this.writeFailures = Counter.builder("isthmus.grpc.agent.write.failures")
        .description("Workload certificates the gRPC agent could not write to its files")
        .register(Metrics.globalRegistry);
  }

  /**
   * Writes the bootstrap, then starts asking the CA for the certificate in the background.
   *
   * @throws IOException if the output directory or the bootstrap cannot be written, or the root
   *     certificate file cannot be read
   */
  public static GrpcAgent start(GrpcAgentOptions options) throws IOException {
    requireNonNull(options, "options");
    List<X509Certificate> roots = readRoots(options.rootCert());
    Path dir = Files.createDirectories(options.outputDir());
    replace(dir.resolve(GrpcBootstrap.BOOTSTRAP_FILE), GrpcBootstrap.json(options), false);
    CertificateRotatorOptions ca = CertificateRotatorOptions.of(options.caAddress(), roots,
            CertificateRotatorOptions.DEFAULT_CA_AUTHORITY, options.tokenFile(), options.identity(),
            options.certTtl())
        .withClusterId(options.cluster())
        // A root rotation (a new istio-ca-root-cert) reaches the CA check and root-cert.pem.
        .withTrustRoots(() -> readRootsOrEmpty(options.rootCert()));
    GrpcAgent agent = new GrpcAgent(options, CertificateRotator.start(ca));
    agent.rotator.addListener(agent::write);
    return agent;
  }

  /** The bootstrap to name in {@code GRPC_XDS_BOOTSTRAP}. */
  public Path bootstrapFile() {
    return options.outputDir().resolve(GrpcBootstrap.BOOTSTRAP_FILE);
  }

  /** Completes once the first certificate is in the files; fails only if closed before. */
  public CompletableFuture<WorkloadCertificate> firstCertificate() {
    return firstWritten.copy();
  }

  /** The certificate the files hold now, or null before the first is written. */
  public WorkloadCertificate written() {
    return written;
  }

  private void write(WorkloadCertificate certificate) {
    if (certificate == written) {
      // The rotator hands a new listener its current certificate, which may be the one just written.
      return;
    }
    Path dir = options.outputDir();
    try {
      List<X509Certificate> roots = readRootsOrEmpty(options.rootCert());
      if (roots.isEmpty()) {
        // The chain ends at the root that signed it; better than no roots at all.
        List<X509Certificate> chain = certificate.chain();
        roots = List.of(chain.get(chain.size() - 1));
      }
      replace(dir.resolve(GrpcBootstrap.ROOT_CERT_FILE), Pem.encodeCertificates(roots), false);
      replace(dir.resolve(GrpcBootstrap.KEY_FILE), Pem.encodePrivateKey(certificate.privateKey()), true);
      replace(dir.resolve(GrpcBootstrap.CERT_CHAIN_FILE), certificate.chainPem(), false);
    } catch (IOException | UncheckedIOException e) {
      writeFailures.increment();
      log.error("Cannot write the certificate of {} into {} (the previous files stay until {}): {}",
          certificate.identity().uri(), dir, written == null ? "none" : written.notAfter(), e.toString());
      return;
    }
    written = certificate;
    log.info("Wrote {} (until {}) into {}", certificate.identity().uri(), certificate.notAfter(), dir);
    firstWritten.complete(certificate);
  }

  private static void replace(Path target, String content, boolean secret) throws IOException {
    Path dir = target.toAbsolutePath().getParent();
    Path aside = Files.createTempFile(dir, "." + target.getFileName(), ".tmp");
    try {
      if (secret) {
        try {
          Files.setPosixFilePermissions(aside, PosixFilePermissions.fromString("rw-------"));
        } catch (UnsupportedOperationException e) {
          // Not a POSIX file system: its own default permissions apply.
        }
      }
      Files.writeString(aside, content);
      try {
        Files.move(aside, target, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
      } catch (AtomicMoveNotSupportedException e) {
        Files.move(aside, target, StandardCopyOption.REPLACE_EXISTING);
      }
    } finally {
      Files.deleteIfExists(aside);
    }
  }

  private static List<X509Certificate> readRoots(Path file) throws IOException {
    String pem;
    try {
      pem = Files.readString(file);
    } catch (IOException e) {
      throw new IOException("root certificate file " + file + " cannot be read (expected: the mesh's roots,"
          + " e.g. the istio-ca-root-cert ConfigMap's root-cert.pem): " + e.getMessage(), e);
    }
    try {
      List<X509Certificate> roots = Pem.decodeCertificates(pem);
      if (roots.isEmpty()) {
        throw new IllegalArgumentException("no certificate in it");
      }
      return roots;
    } catch (IllegalArgumentException e) {
      throw new IOException("root certificate file " + file + ": " + e.getMessage()
          + " (expected: PEM certificates)", e);
    }
  }

  private static List<X509Certificate> readRootsOrEmpty(Path file) {
    try {
      return readRoots(file);
    } catch (IOException e) {
      log.warn("{}; keeping the roots read before", e.getMessage());
      return List.of();
    }
  }

  @Override
  public void close() {
    rotator.close();
    firstWritten.completeExceptionally(new IllegalStateException("gRPC agent closed"));
  }
}
