package io.isthmus.proxy;

import static java.util.Objects.requireNonNull;

import io.isthmus.proxy.identity.WorkloadIdentity;
import io.isthmus.proxy.xds.XdsSnapshot;
import io.isthmus.proxy.xds.XdsStaticConfig;
import io.isthmus.trust.Pem;
import io.isthmus.trust.WorkloadCertificate;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * How a proxy or gateway runs without a controller ({@code --static-config}): its xDS resources
 * from a file (see {@link XdsStaticConfig}) and a fixed workload certificate from PEM files. For
 * benchmarks, for debugging a config taken from {@code /config_dump}, and for a proxy in front
 * of a workload that no controller watches. Nothing is fetched or rotated: restart the process
 * with new files to change either.
 *
 * @param config the resource file
 * @param certChain the workload certificate chain, PEM, leaf first (one SPIFFE URI SAN)
 * @param key the leaf's private key, PKCS#8 PEM
 */
public record StaticBootstrap(Path config, Path certChain, Path key) {

  public StaticBootstrap {
    requireNonNull(config, "config");
    requireNonNull(certChain, "certChain");
    requireNonNull(key, "key");
  }

  /** The resources, validated as if they came over ADS. */
  public XdsSnapshot snapshot() {
    return XdsStaticConfig.load(config);
  }

  /** The fixed certificate. */
  public WorkloadIdentity identity() {
    try {
      return WorkloadIdentity.fixed(new WorkloadCertificate(
          Pem.decodePrivateKey(Files.readString(key)),
          Pem.decodeCertificates(Files.readString(certChain))));
    } catch (IOException e) {
      throw new IllegalArgumentException("--cert-chain/--key: cannot read " + certChain + " or "
          + key + ": " + e, e);
    } catch (RuntimeException e) {
      throw new IllegalArgumentException("--cert-chain " + certChain + " / --key " + key + ": "
          + e.getMessage() + " (expected: a PEM chain, leaf first with one SPIFFE URI SAN, and"
          + " its PKCS#8 PEM key)", e);
    }
  }
}
