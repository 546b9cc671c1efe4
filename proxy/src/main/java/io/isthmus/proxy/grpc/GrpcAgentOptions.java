package io.isthmus.proxy.grpc;

import static java.util.Objects.requireNonNull;

import io.isthmus.trust.SpiffeId;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;

/**
 * What a {@link GrpcAgent} needs: who the proxyless gRPC workload is (its node in the controller's
 * eyes and its SPIFFE identity), where the controller's xDS and CA ports are, and where to write.
 *
 * @param podIp the pod's IP (the node id's second field)
 * @param podName the pod's name
 * @param namespace the pod's namespace
 * @param serviceAccount the pod's service account; with {@code namespace} and {@code trustDomain},
 *     the identity the certificate carries
 * @param cluster the mesh cluster (xDS metadata {@code CLUSTER_ID}, the CSR's {@code ClusterID})
 * @param network the pod's network
 * @param locality {@code region/zone/subzone} (parts may be empty)
 * @param labels the pod's labels (xDS metadata {@code LABELS}: Sidecar selectors, subsets)
 * @param xdsServer {@code host:port} of the controller's plaintext ADS port (15010); gRPC's
 *     bootstrap cannot name a client certificate for the control plane, and the xDS stream carries
 *     no secret (the keys stay in {@code outputDir})
 * @param caAddress {@code host:port} of the controller's CA (15012, TLS)
 * @param rootCert the mesh's root certificates (PEM; the {@code istio-ca-root-cert} ConfigMap),
 *     re-read at every renewal so a root rotation reaches {@code root-cert.pem}
 * @param tokenFile the service-account token (audience {@code istio-ca}), re-read per request
 * @param trustDomain the mesh's trust domain
 * @param certTtl the certificate lifetime asked for; renewal starts at half of it
 * @param outputDir where the certificate files and the bootstrap go (created if missing)
 * @param refreshInterval how often gRPC's {@code file_watcher} provider looks at the files
 */
public record GrpcAgentOptions(
    String podIp,
    String podName,
    String namespace,
    String serviceAccount,
    String cluster,
    String network,
    String locality,
    Map<String, String> labels,
    String xdsServer,
    String caAddress,
    Path rootCert,
    Path tokenFile,
    String trustDomain,
    Duration certTtl,
    Path outputDir,
    Duration refreshInterval) {

  public GrpcAgentOptions {
    requireNonNull(podIp, "podIp");
    requireNonNull(podName, "podName");
    requireNonNull(namespace, "namespace");
    requireNonNull(serviceAccount, "serviceAccount");
    requireNonNull(cluster, "cluster");
    requireNonNull(network, "network");
    requireNonNull(locality, "locality");
    labels = Map.copyOf(requireNonNull(labels, "labels"));
    requireNonNull(xdsServer, "xdsServer");
    requireNonNull(caAddress, "caAddress");
    requireNonNull(rootCert, "rootCert");
    requireNonNull(tokenFile, "tokenFile");
    requireNonNull(trustDomain, "trustDomain");
    requireNonNull(certTtl, "certTtl");
    requireNonNull(outputDir, "outputDir");
    requireNonNull(refreshInterval, "refreshInterval");
    for (var field : Map.of("podIp", podIp, "podName", podName, "namespace", namespace,
        "serviceAccount", serviceAccount, "cluster", cluster).entrySet()) {
      if (field.getValue().isBlank()) {
        throw new IllegalArgumentException(field.getKey() + ": '' (expected: non-empty)");
      }
    }
    hostPort("xdsServer", xdsServer);
    hostPort("caAddress", caAddress);
    if (locality.split("/", -1).length > 3) {
      throw new IllegalArgumentException("locality: '" + locality + "' (expected: region/zone/subzone)");
    }
    if (certTtl.isNegative() || certTtl.isZero()) {
      throw new IllegalArgumentException("certTtl: " + certTtl + " (expected: > 0)");
    }
    if (refreshInterval.toSeconds() < 1) {
      throw new IllegalArgumentException("refreshInterval: " + refreshInterval
          + " (expected: >= 1s; gRPC's file_watcher counts whole seconds)");
    }
    SpiffeId.of(trustDomain, namespace, serviceAccount);
  }

  /** The identity the workload's certificate carries. */
  public SpiffeId identity() {
    return SpiffeId.of(trustDomain, namespace, serviceAccount);
  }

  /** The xDS node id, as Istio's agent writes it for a proxyless client. */
  public String nodeId() {
    return "sidecar~" + podIp + "~" + podName + "." + namespace + "~" + namespace + ".svc.cluster.local";
  }

  private static void hostPort(String name, String value) {
    int colon = value.lastIndexOf(':');
    boolean ok = colon > 0 && colon < value.length() - 1;
    if (ok) {
      try {
        int port = Integer.parseInt(value.substring(colon + 1));
        ok = port > 0 && port <= 65535;
      } catch (NumberFormatException e) {
        ok = false;
      }
    }
    if (!ok) {
      throw new IllegalArgumentException(name + ": '" + value + "' (expected: host:port)");
    }
  }
}
