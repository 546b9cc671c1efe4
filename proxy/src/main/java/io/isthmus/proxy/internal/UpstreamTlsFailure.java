package io.isthmus.proxy.internal;

import static java.util.Objects.requireNonNull;

import java.security.cert.CertificateException;
import java.util.IdentityHashMap;
import java.util.Map;
import java.util.Optional;
import javax.net.ssl.SSLException;

/**
 * Why a TLS handshake toward an upstream failed, in Envoy's terms: {@code reason} is the name of
 * Envoy's per-cluster SSL counter that counts it ({@code fail_verify_san}: the server's
 * certificate carries none of the subject alt names asked for; {@code fail_verify_error}: its
 * chain does not lead to a trusted CA, or it is expired or malformed;
 * {@code connection_error}: anything else, such as an alert from the server or a server that
 * does not speak TLS), and {@code detail} is what the access log prints as
 * {@code %UPSTREAM_TRANSPORT_FAILURE_REASON%} and the local reply names after "transport failure
 * reason".
 */
record UpstreamTlsFailure(String reason, String detail) {

  static final String FAIL_VERIFY_SAN = "fail_verify_san";
  static final String FAIL_VERIFY_ERROR = "fail_verify_error";
  static final String CONNECTION_ERROR = "connection_error";
  /** The metric, labelled by xDS {@code cluster} and {@code reason}. */
  static final String METRIC = "isthmus_upstream_tls_handshake_failures";
  private static final int MAX_DETAIL = 300;

  UpstreamTlsFailure {
    requireNonNull(reason, "reason");
    requireNonNull(detail, "detail");
  }

  /**
   * Thrown by a trust manager when the certificate is trusted but names none of the subject
   * alt names the cluster asks for, so the failure is told apart from an untrusted chain.
   */
  static final class SanMismatch extends CertificateException {
    private static final long serialVersionUID = 1L;

    SanMismatch(String message) {
      super(message);
    }
  }

  /** The TLS failure {@code cause} is (or wraps), or empty when it is not one (a refused TCP connect). */
  static Optional<UpstreamTlsFailure> of(Throwable cause) {
    SSLException ssl = null;
    CertificateException cert = null;
    // Providers nest the trust manager's exception differently (a cause with the JDK, a cause
    // or a suppressed one with OpenSSL): look through both, once per throwable.
    Map<Throwable, Boolean> seen = new IdentityHashMap<>();
    java.util.ArrayDeque<Throwable> todo = new java.util.ArrayDeque<>();
    if (cause != null) {
      todo.add(cause);
    }
    while (!todo.isEmpty()) {
      Throwable t = todo.poll();
      if (seen.put(t, Boolean.TRUE) != null) {
        continue;
      }
      if (t instanceof SSLException s && ssl == null) {
        ssl = s;
      }
      if (t instanceof CertificateException c && (cert == null || c instanceof SanMismatch)) {
        cert = c;
      }
      if (t.getCause() != null) {
        todo.add(t.getCause());
      }
      for (Throwable s : t.getSuppressed()) {
        todo.add(s);
      }
    }
    if (cert instanceof SanMismatch) {
      return Optional.of(new UpstreamTlsFailure(FAIL_VERIFY_SAN,
          detail("CERTIFICATE_VERIFY_FAILED: verify SAN list: " + cert.getMessage())));
    }
    if (cert != null) {
      return Optional.of(new UpstreamTlsFailure(FAIL_VERIFY_ERROR,
          detail("CERTIFICATE_VERIFY_FAILED: " + cert.getMessage())));
    }
    if (ssl != null) {
      return Optional.of(new UpstreamTlsFailure(CONNECTION_ERROR, detail(ssl.getMessage())));
    }
    return Optional.empty();
  }

  /** One line, bounded: it goes into a response body and a log line. */
  private static String detail(String message) {
    String m = "TLS_error: " + (message == null ? "handshake failed" : message.replaceAll("\\s+", " "));
    return m.length() <= MAX_DETAIL ? m : m.substring(0, MAX_DETAIL) + "...";
  }

  /**
   * Counts this failure for {@code cluster} and logs it: a refused certificate (wrong identity,
   * untrusted or revoked chain) as a warning, at most one a second so that a misconfigured
   * cluster under load cannot flood the log (the counter has them all); the rest at debug.
   */
  void count(ProxyMetrics metrics, String cluster) {
    String name = cluster == null ? "unknown" : cluster;
    metrics.counter(METRIC, "cluster", name, "reason", reason);
    if (reason.equals(CONNECTION_ERROR)) {
      log.debug("upstream TLS to {} failed: {}", name, detail);
      return;
    }
    long now = System.nanoTime();
    long last = LAST_WARNING.get();
    if (now - last >= WARN_INTERVAL_NANOS && LAST_WARNING.compareAndSet(last, now)) {
      log.warn("upstream TLS to {} refused ({}): {}", name, reason, detail);
    } else {
      log.debug("upstream TLS to {} refused ({}): {}", name, reason, detail);
    }
  }

  private static final org.slf4j.Logger log = org.slf4j.LoggerFactory.getLogger(UpstreamTlsFailure.class);
  private static final long WARN_INTERVAL_NANOS = java.util.concurrent.TimeUnit.SECONDS.toNanos(1);
  private static final java.util.concurrent.atomic.AtomicLong LAST_WARNING =
      new java.util.concurrent.atomic.AtomicLong(System.nanoTime() - WARN_INTERVAL_NANOS);
}
