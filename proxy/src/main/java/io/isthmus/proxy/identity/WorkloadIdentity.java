package io.isthmus.proxy.identity;

import static java.util.Objects.requireNonNull;

import io.isthmus.trust.CertificateRotator;
import io.isthmus.trust.CertificateRotatorOptions;
import io.isthmus.trust.WorkloadCertificate;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.function.Supplier;

/**
 * Where a proxy (or the gateway) gets its workload certificate: normally a
 * {@link CertificateRotator} calling the controller's CSR API, or a fixed certificate.
 * The private key never leaves the process.
 *
 * <p>Thread-safe. {@link #current()} is read per TLS handshake.
 */
public final class WorkloadIdentity implements AutoCloseable {

  private final CertificateRotator rotator;
  private final WorkloadCertificate fixed;

  private WorkloadIdentity(CertificateRotator rotator, WorkloadCertificate fixed) {
    this.rotator = rotator;
    this.fixed = fixed;
  }

  /** Starts fetching and renewing the certificate from the CA in the background. */
  public static WorkloadIdentity fromCa(CertificateRotatorOptions options) {
    return new WorkloadIdentity(CertificateRotator.start(requireNonNull(options, "options")),
        null);
  }

  /** A certificate that never rotates (tests, or a certificate provisioned from files). */
  public static WorkloadIdentity fixed(WorkloadCertificate certificate) {
    return new WorkloadIdentity(null, requireNonNull(certificate, "certificate"));
  }

  /** Completes with the first certificate. */
  public CompletableFuture<WorkloadCertificate> firstCertificate() {
    return rotator != null ? rotator.firstCertificate() : CompletableFuture.completedFuture(fixed);
  }

  /**
   * The current certificate.
   *
   * @throws IllegalStateException if none has been issued yet or it has expired
   */
  public WorkloadCertificate current() {
    return rotator != null ? rotator.current() : fixed;
  }

  /** The current certificate, or empty while there is none. */
  public Optional<WorkloadCertificate> currentIfIssued() {
    try {
      return Optional.of(current());
    } catch (IllegalStateException e) {
      return Optional.empty();
    }
  }

  public boolean issued() {
    return currentIfIssued().isPresent();
  }

  public Supplier<WorkloadCertificate> supplier() {
    return this::current;
  }

  @Override
  public void close() {
    if (rotator != null) {
      rotator.close();
    }
  }
}
