package io.isthmus.proxy;

import io.isthmus.proxy.grpc.GrpcAgent;
import io.isthmus.proxy.grpc.GrpcAgentOptions;
import java.io.IOException;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/**
 * The agent beside a proxyless gRPC workload (no sidecar): {@code java io.isthmus.proxy.GrpcAgentMain
 * --pod-ip ... --xds host:15010 --ca host:15012 --root-cert f --token-file f --out-dir d}. Writes
 * {@code d/grpc-bootstrap.json} and the workload certificate files it names, keeps the certificate
 * fresh, and runs until killed. The workload runs with {@code GRPC_XDS_BOOTSTRAP=d/grpc-bootstrap.json}.
 */
@Command(name = "isthmus-grpc-agent", mixinStandardHelpOptions = true,
    description = "Certificates and xDS bootstrap for a proxyless gRPC workload (Istio's grpc-agent)")
public final class GrpcAgentMain implements Callable<Integer> {

  @Option(names = "--pod-ip", required = true)
  String podIp;

  @Mixin
  WorkloadFlags workload = new WorkloadFlags();

  @Option(names = "--network", defaultValue = "")
  String network;

  @Option(names = "--xds", required = true, description = "host:port of the controller's plaintext xDS (15010)")
  String xds;

  @Option(names = "--ca", required = true, description = "host:port of the controller's CA (15012)")
  String ca;

  @Option(names = "--root-cert", required = true, description = "the mesh's roots (istio-ca-root-cert)")
  Path rootCert;

  @Option(names = "--token-file", required = true, description = "service-account token, audience istio-ca")
  Path tokenFile;

  @Option(names = "--trust-domain", defaultValue = "cluster.local")
  String trustDomain;

  @Option(names = "--cert-ttl", defaultValue = "24h", description = "e.g. 24h, 30m, 90s, or ISO-8601")
  String certTtl;

  @Option(names = "--refresh-interval", defaultValue = "60s",
      description = "how often gRPC re-reads the certificate files")
  String refreshInterval;

  @Option(names = "--out-dir", required = true, description = "where the bootstrap and certificate files go")
  Path outDir;

  public static void main(String[] args) {
    int code = new CommandLine(new GrpcAgentMain()).execute(args);
    if (code != 0) {
      System.exit(code);
    }
  }

  GrpcAgentOptions options() {
    return new GrpcAgentOptions(podIp, workload.podName, workload.namespace, workload.serviceAccount,
        workload.cluster, network, workload.locality, workload.labelMap(), xds, ca, rootCert, tokenFile,
        trustDomain, ProxyFlags.parseDuration(certTtl), outDir, ProxyFlags.parseDuration(refreshInterval));
  }

  @Override
  public Integer call() throws Exception {
    GrpcAgent agent;
    try {
      agent = GrpcAgent.start(options());
    } catch (IllegalArgumentException | IOException e) {
      System.err.println("isthmus-grpc-agent: " + e.getMessage());
      return 2;
    }
    System.out.println("GRPC_XDS_BOOTSTRAP=" + agent.bootstrapFile().toAbsolutePath());
    CountDownLatch stopped = new CountDownLatch(1);
    Runtime.getRuntime().addShutdownHook(new Thread(() -> {
      agent.close();
      stopped.countDown();
    }, "isthmus-grpc-agent-shutdown"));
    stopped.await();
    return 0;
  }
}
