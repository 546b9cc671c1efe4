package io.isthmus.proxy.internal.telemetry;

/**
 * What the routing handler decided for a request, told to its telemetry: the xDS cluster
 * (e.g. {@code outbound|5000||helloworld.sample.svc.cluster.local}), the service host, the
 * endpoint address and the mesh cluster it lives in, Envoy's response flags, and the gRPC status
 * of a gRPC request (empty otherwise), and why the last TLS handshake with the upstream failed
 * (Envoy's {@code %UPSTREAM_TRANSPORT_FAILURE_REASON%}). Any value may be null when not known.
 */
public record UpstreamInfo(String upstreamCluster, String service, String upstreamHost,
    String destinationCluster, String responseFlags, String grpcStatus,
    String transportFailureReason) {

  /** Without a transport failure reason. */
  public UpstreamInfo(String upstreamCluster, String service, String upstreamHost,
      String destinationCluster, String responseFlags, String grpcStatus) {
    this(upstreamCluster, service, upstreamHost, destinationCluster, responseFlags, grpcStatus,
        null);
  }
}
