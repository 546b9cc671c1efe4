package io.isthmus.proxy.internal;

import io.isthmus.proxy.ProxyOptions;
import io.isthmus.proxy.identity.MeshTrust;
import io.isthmus.proxy.identity.WorkloadIdentity;
import io.isthmus.proxy.xds.XdsClient;
import io.isthmus.proxy.xds.XdsClientOptions;
import io.isthmus.proxy.xds.XdsNode;
import io.isthmus.proxy.xds.XdsSnapshot;
import io.isthmus.trust.CertificateRotatorOptions;
import io.isthmus.trust.MeshTls;
import io.isthmus.trust.SpiffeId;
import io.isthmus.trust.TrustBundle;
import io.isthmus.trust.WorkloadCertificate;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.util.List;
import java.util.Map;
import java.util.function.Consumer;
import tools.jackson.databind.node.ObjectNode;

/**
 * The start-up steps the sidecar and the gateway share: the initial trust bundle, the
 * workload identity from the CA, and the xDS client. Public for the gateway module only.
 */
public final class ProxyBootstrap {

  private ProxyBootstrap() {}

  public static MeshTrust trust(ProxyOptions options) {
    try {
      String pem = Files.readString(options.rootCert());
      return new MeshTrust(TrustBundle.ofPem(options.trustDomain(), options.trustDomainAliases(), List.of(pem)));
    } catch (IOException e) {
      throw new UncheckedIOException("--root-cert: cannot read " + options.rootCert(), e);
    }
  }

  public static SpiffeId identity(ProxyOptions options) {
    return SpiffeId.of(options.trustDomain(), options.namespace(), options.serviceAccount());
  }

  /** A rotator against the controller's CA ({@code --controller}, 15012). */
  public static WorkloadIdentity identityFromCa(ProxyOptions options, MeshTrust trust) {
    String caAddress = options.controller();
    if (options.xdsPlaintext()) {
      // Plaintext xDS is on 15010; the CA is only served with TLS on 15012.
      caAddress = caAddress.substring(0, caAddress.lastIndexOf(':')) + ":15012";
    }
    return WorkloadIdentity.fromCa(CertificateRotatorOptions.of(caAddress,
        trust.get().roots(), CertificateRotatorOptions.DEFAULT_CA_AUTHORITY,
        options.tokenFile(), identity(options), options.certTtl())
        .withTrustRoots(() -> trust.get().roots())
        // A remote cluster's proxies are served by their primary's CA, which needs to know
        // whose issuer signed the token; the primary's own proxies send their own cluster.
        .withClusterId(options.cluster()));
  }

  public static XdsNode node(ProxyOptions options, Map<String, String> extraMetadata) {
    return new XdsNode(options.type(), options.podIp(), options.podName(), options.namespace(),
        options.serviceAccount(), options.cluster(), options.network(), options.locality(),
        options.labels(), extraMetadata);
  }

  public static XdsClient startXds(ProxyOptions options, WorkloadIdentity identity,
      MeshTrust trust, Map<String, String> extraMetadata, Consumer<XdsSnapshot> listener) {
    XdsClientOptions xds = XdsClientOptions.of(options.controller(),
        options.xdsPlaintext() ? null : MeshTls.grpcClientContext(identity.supplier(), trust),
        node(options, extraMetadata));
    return XdsClient.start(xds, snapshot -> {
      trust.update(snapshot);
      listener.accept(snapshot);
    });
  }

  /** The {@code /certs} page: identity, validity and chain of the current certificate. */
  public static ObjectNode certs(WorkloadIdentity identity) {
    ObjectNode node = ConfigDump.mapper().createObjectNode();
    var current = identity.currentIfIssued();
    if (current.isEmpty()) {
      node.put("state", "pending");
      return node;
    }
    WorkloadCertificate cert = current.get();
    node.put("state", "issued");
    node.put("identity", cert.identity().uri());
    node.put("notBefore", cert.notBefore().toString());
    node.put("notAfter", cert.notAfter().toString());
    var chain = node.putArray("chain");
    for (var c : cert.chain()) {
      ObjectNode entry = chain.addObject();
      entry.put("subject", c.getSubjectX500Principal().getName());
      entry.put("issuer", c.getIssuerX500Principal().getName());
      entry.put("serial", c.getSerialNumber().toString(16));
      entry.put("notAfter", c.getNotAfter().toInstant().toString());
    }
    node.put("chainPem", cert.chainPem());
    return node;
  }
}
