package io.isthmus.proxy.internal;

import static java.util.Objects.requireNonNull;

/**
 * One address an upstream cluster may send to, with what the controller said about it.
 *
 * @param weight the endpoint's {@code load_balancing_weight}, at least 1
 * @param cluster the mesh cluster the endpoint lives in (istio metadata), may be empty
 * @param viaGateway whether the address is another network's east-west gateway
 * @param address {@code host:port}
 */
public record UpstreamEndpoint(
    String host,
    int port,
    int weight,
    String locality,
    int priority,
    String cluster,
    String network,
    String workload,
    boolean viaGateway,
    String address) {

  /** {@code address} is {@code host:port}, made once: it keys per-host state on every request. */
  public UpstreamEndpoint(String host, int port, int weight, String locality, int priority,
      String cluster, String network, String workload, boolean viaGateway) {
    this(host, port, weight, locality, priority, cluster, network, workload, viaGateway,
        host + ":" + port);
  }

  public UpstreamEndpoint {
    requireNonNull(host, "host");
    requireNonNull(locality, "locality");
    requireNonNull(cluster, "cluster");
    requireNonNull(network, "network");
    requireNonNull(workload, "workload");
    if (port <= 0 || port > 65535) {
      throw new IllegalArgumentException("port: " + port + " (expected: 1..65535)");
    }
    if (weight < 1) {
      throw new IllegalArgumentException("weight: " + weight + " (expected: >= 1)");
    }
    requireNonNull(address, "address");
    if (!address.equals(host + ":" + port)) {
      throw new IllegalArgumentException("address: " + address + " (expected: " + host + ":"
          + port + ", the host and port)");
    }
  }
}
