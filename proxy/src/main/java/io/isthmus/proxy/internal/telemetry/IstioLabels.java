package io.isthmus.proxy.internal.telemetry;

import static java.util.Objects.requireNonNull;

import io.micrometer.core.instrument.Tags;
import java.util.List;

/**
 * Istio's standard metric labels for one request or connection, as Istio's stats plugin sets
 * them: {@code unknown} where a value is not known, {@code -} for no response flags,
 * {@code connection_security_policy} {@code mutual_tls}/{@code none} on the destination
 * reporter and {@code unknown} on the source reporter. Values longer than
 * {@value #MAX_VALUE_CHARS} characters are cut, so a hostile Host header cannot bloat a series.
 */
public record IstioLabels(
    String reporter,
    String sourceWorkload,
    String sourceWorkloadNamespace,
    String sourcePrincipal,
    String sourceApp,
    String sourceVersion,
    String sourceCluster,
    String destinationWorkload,
    String destinationWorkloadNamespace,
    String destinationPrincipal,
    String destinationApp,
    String destinationVersion,
    String destinationService,
    String destinationServiceName,
    String destinationServiceNamespace,
    String destinationCluster,
    String requestProtocol,
    String responseCode,
    String grpcResponseStatus,
    String responseFlags,
    String connectionSecurityPolicy) {

  static final int MAX_VALUE_CHARS = 256;
  // Compiled once: String.matches would compile it again for every request.
  private static final java.util.regex.Pattern IPV4 =
      java.util.regex.Pattern.compile("\\d+\\.\\d+\\.\\d+\\.\\d+");
  public static final String OVERFLOW = "overflow";

  /** Label names in Istio's order; {@link #values()} follows it. */
  public static final List<String> NAMES = List.of("reporter", "source_workload",
      "source_workload_namespace", "source_principal", "source_app", "source_version",
      "source_cluster", "destination_workload", "destination_workload_namespace",
      "destination_principal", "destination_app", "destination_version", "destination_service",
      "destination_service_name", "destination_service_namespace", "destination_cluster",
      "request_protocol", "response_code", "grpc_response_status", "response_flags",
      "connection_security_policy");

  /** Which sidecar reports: the client's ({@code source}) or the server's ({@code destination}). */
  public enum Reporter {
    SOURCE("source"), DESTINATION("destination");

    private final String label;

    Reporter(String label) {
      this.label = label;
    }

    public String label() {
      return label;
    }
  }

  public IstioLabels {
    reporter = clean(reporter);
    sourceWorkload = clean(sourceWorkload);
    sourceWorkloadNamespace = clean(sourceWorkloadNamespace);
    sourcePrincipal = clean(sourcePrincipal);
    sourceApp = clean(sourceApp);
    sourceVersion = clean(sourceVersion);
    sourceCluster = clean(sourceCluster);
    destinationWorkload = clean(destinationWorkload);
    destinationWorkloadNamespace = clean(destinationWorkloadNamespace);
    destinationPrincipal = clean(destinationPrincipal);
    destinationApp = clean(destinationApp);
    destinationVersion = clean(destinationVersion);
    destinationService = clean(destinationService);
    destinationServiceName = clean(destinationServiceName);
    destinationServiceNamespace = clean(destinationServiceNamespace);
    destinationCluster = clean(destinationCluster);
    requestProtocol = clean(requestProtocol);
    responseCode = clean(responseCode);
    // Istio leaves it empty for plain HTTP.
    grpcResponseStatus = grpcResponseStatus == null ? "" : cut(grpcResponseStatus);
    responseFlags = responseFlags == null || responseFlags.isEmpty() ? "-" : cut(responseFlags);
    connectionSecurityPolicy = clean(connectionSecurityPolicy);
  }

  /**
   * The labels of one request.
   *
   * @param destinationService the service host the request was for, e.g.
   *     {@code helloworld.sample.svc.cluster.local} (a port, if any, is dropped)
   * @param responseCode the HTTP status, 0 when no response was sent
   * @param grpcStatus {@code grpc-status} of a gRPC response, empty otherwise
   * @param securityPolicy {@code mutual_tls}, {@code none} or {@code unknown}
   */
  public static IstioLabels of(Reporter reporter, PeerMetadata source, String sourcePrincipal,
      PeerMetadata destination, String destinationPrincipal, String destinationService,
      String protocol, int responseCode, String grpcStatus, String flags,
      String securityPolicy) {
    requireNonNull(reporter, "reporter");
    requireNonNull(source, "source");
    requireNonNull(destination, "destination");
    String host = hostOf(destinationService);
    return new IstioLabels(reporter.label(), source.workload(), source.namespace(),
        sourcePrincipal, source.app(), source.version(), source.cluster(),
        destination.workload(), destination.namespace(), destinationPrincipal, destination.app(),
        destination.version(), host, serviceName(host), serviceNamespace(host),
        destination.cluster(), protocol, Integer.toString(responseCode), grpcStatus, flags,
        securityPolicy);
  }

  public List<String> values() {
    return List.of(reporter, sourceWorkload, sourceWorkloadNamespace, sourcePrincipal, sourceApp,
        sourceVersion, sourceCluster, destinationWorkload, destinationWorkloadNamespace,
        destinationPrincipal, destinationApp, destinationVersion, destinationService,
        destinationServiceName, destinationServiceNamespace, destinationCluster, requestProtocol,
        responseCode, grpcResponseStatus, responseFlags, connectionSecurityPolicy);
  }

  /** Every label, for the request metrics. */
  public Tags requestTags() {
    List<String> values = values();
    String[] kv = new String[NAMES.size() * 2];
    for (int i = 0; i < NAMES.size(); i++) {
      kv[2 * i] = NAMES.get(i);
      kv[2 * i + 1] = values.get(i);
    }
    return Tags.of(kv);
  }

  /** Istio's TCP metrics carry no {@code response_code} or {@code grpc_response_status}. */
  public Tags tcpTags() {
    List<String> values = values();
    String[] kv = new String[(NAMES.size() - 2) * 2];
    int j = 0;
    for (int i = 0; i < NAMES.size(); i++) {
      String name = NAMES.get(i);
      if (name.equals("response_code") || name.equals("grpc_response_status")) {
        continue;
      }
      kv[j++] = name;
      kv[j++] = values.get(i);
    }
    return Tags.of(kv);
  }

  /**
   * The series a request falls into once its metric has too many: the reporter, protocol,
   * status and flags stay (dashboards still see errors), every identity label becomes
   * {@value #OVERFLOW}.
   */
  public IstioLabels overflow() {
    return new IstioLabels(reporter, OVERFLOW, OVERFLOW, OVERFLOW, OVERFLOW, OVERFLOW, OVERFLOW,
        OVERFLOW, OVERFLOW, OVERFLOW, OVERFLOW, OVERFLOW, OVERFLOW, OVERFLOW, OVERFLOW, OVERFLOW,
        requestProtocol, responseCode, grpcResponseStatus, responseFlags,
        connectionSecurityPolicy);
  }

  /** {@code helloworld.sample.svc.cluster.local:5000} → {@code helloworld.sample.svc.cluster.local}. */
  static String hostOf(String authority) {
    if (authority == null || authority.isBlank()) {
      return "unknown";
    }
    String a = authority.trim();
    if (a.startsWith("[")) {
      int end = a.indexOf(']');
      return end > 0 ? a.substring(0, end + 1) : a;
    }
    int colon = a.lastIndexOf(':');
    return colon > 0 && a.indexOf(':') == colon ? a.substring(0, colon) : a;
  }

  /** The Kubernetes service name of a host: the first label of {@code name.namespace[.svc...]}. */
  static String serviceName(String host) {
    if (host.equals("unknown") || isAddress(host)) {
      return host;
    }
    int dot = host.indexOf('.');
    return dot > 0 ? host.substring(0, dot) : host;
  }

  /** The namespace of {@code name.namespace[.svc.cluster.local]}; unknown for other hosts. */
  static String serviceNamespace(String host) {
    if (host.equals("unknown") || isAddress(host)) {
      return "unknown";
    }
    String[] parts = host.split("\\.");
    if (parts.length == 2 || (parts.length >= 3 && parts[2].equals("svc"))) {
      return parts[1];
    }
    return "unknown";
  }

  private static boolean isAddress(String host) {
    return host.startsWith("[") || IPV4.matcher(host).matches();
  }

  private static String clean(String value) {
    return value == null || value.isBlank() ? "unknown" : cut(value);
  }

  private static String cut(String value) {
    return value.length() > MAX_VALUE_CHARS ? value.substring(0, MAX_VALUE_CHARS) : value;
  }
}
