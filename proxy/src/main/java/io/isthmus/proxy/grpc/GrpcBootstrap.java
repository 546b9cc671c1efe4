package io.isthmus.proxy.grpc;

import static java.util.Objects.requireNonNull;

import java.nio.file.Path;
import java.util.TreeMap;
import tools.jackson.databind.json.JsonMapper;
import tools.jackson.databind.node.ObjectNode;

/**
 * The gRPC xDS bootstrap of a proxyless workload ({@code GRPC_XDS_BOOTSTRAP}), in the shape Istio's
 * agent writes it: the controller's ADS server, the node (id, locality, metadata with
 * {@code GENERATOR: grpc}, which makes the controller serve gRPC's resource shapes), the
 * {@code file_watcher} certificate provider {@value #PROVIDER_INSTANCE} over the three PEM files
 * the agent keeps fresh (the controller's clusters and listeners name it), and the template of
 * the listener an {@code XdsServerBuilder} server asks for.
 */
public final class GrpcBootstrap {

  /** The workload's chain, leaf first. */
  public static final String CERT_CHAIN_FILE = "cert-chain.pem";
  /** The leaf's private key (PKCS#8). */
  public static final String KEY_FILE = "key.pem";
  /** The mesh's trust roots. */
  public static final String ROOT_CERT_FILE = "root-cert.pem";
  /** The bootstrap itself. */
  public static final String BOOTSTRAP_FILE = "grpc-bootstrap.json";
  /** The certificate provider instance the controller's TLS contexts name. */
  public static final String PROVIDER_INSTANCE = "default";
  /** What an xDS-enabled gRPC server asks for: Istio's name for a proxyless server's inbound. */
  public static final String SERVER_LISTENER_TEMPLATE = "xds.istio.io/grpc/lds/inbound/%s";

  private static final JsonMapper JSON = JsonMapper.builder().build();

  private GrpcBootstrap() {}

  /** The bootstrap for {@code options}, its certificate files in {@code options.outputDir()}. */
  public static String json(GrpcAgentOptions options) {
    requireNonNull(options, "options");
    ObjectNode root = JSON.createObjectNode();
    ObjectNode server = root.putArray("xds_servers").addObject();
    server.put("server_uri", options.xdsServer());
    server.putArray("channel_creds").addObject().put("type", "insecure");
    server.putArray("server_features").add("xds_v3");

    ObjectNode node = root.putObject("node");
    node.put("id", options.nodeId());
    String[] locality = (options.locality() + "//").split("/", -1);
    ObjectNode where = node.putObject("locality");
    where.put("region", locality[0]);
    where.put("zone", locality[1]);
    where.put("sub_zone", locality[2]);
    ObjectNode metadata = node.putObject("metadata");
    metadata.put("GENERATOR", "grpc");
    metadata.put("CLUSTER_ID", options.cluster());
    metadata.put("NETWORK", options.network());
    metadata.put("NAMESPACE", options.namespace());
    metadata.put("SERVICE_ACCOUNT", options.serviceAccount());
    metadata.put("NAME", options.podName());
    ObjectNode labels = metadata.putObject("LABELS");
    new TreeMap<>(options.labels()).forEach(labels::put);

    Path dir = options.outputDir().toAbsolutePath();
    ObjectNode provider = root.putObject("certificate_providers").putObject(PROVIDER_INSTANCE);
    provider.put("plugin_name", "file_watcher");
    ObjectNode files = provider.putObject("config");
    files.put("certificate_file", dir.resolve(CERT_CHAIN_FILE).toString());
    files.put("private_key_file", dir.resolve(KEY_FILE).toString());
    files.put("ca_certificate_file", dir.resolve(ROOT_CERT_FILE).toString());
    files.put("refresh_interval", options.refreshInterval().toSeconds() + "s");

    root.put("server_listener_resource_name_template", SERVER_LISTENER_TEMPLATE);
    return JSON.writerWithDefaultPrettyPrinter().writeValueAsString(root) + "\n";
  }
}
