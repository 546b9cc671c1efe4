package io.isthmus.proxy.internal;

import static java.util.Objects.requireNonNull;

/** Who this proxy's workload is, for telemetry labels. */
public record WorkloadInfo(String workload, String namespace, String cluster) {
  public WorkloadInfo {
    requireNonNull(workload, "workload");
    requireNonNull(namespace, "namespace");
    requireNonNull(cluster, "cluster");
  }
}
