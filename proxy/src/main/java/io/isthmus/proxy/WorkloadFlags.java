package io.isthmus.proxy;

import java.util.Map;
import picocli.CommandLine.Option;

/**
 * Who the workload is and where it runs, as a picocli mixin: the flags the sidecar, the gateway
 * ({@link ProxyFlags}) and the gRPC agent ({@link GrpcAgentMain}) all take, spelled as
 * contracts.md lists them.
 */
public final class WorkloadFlags {

  @Option(names = "--pod-name", required = true)
  String podName;

  @Option(names = "--namespace", required = true)
  String namespace;

  @Option(names = "--service-account", required = true)
  String serviceAccount;

  @Option(names = "--cluster", required = true)
  String cluster;

  @Option(names = "--locality", defaultValue = "", description = "region/zone/subzone")
  String locality;

  @Option(names = "--labels", defaultValue = "", description = "k=v,k=v")
  String labels;

  /** {@code --labels} as a map. */
  Map<String, String> labelMap() {
    return ProxyFlags.parseLabels(labels);
  }
}
