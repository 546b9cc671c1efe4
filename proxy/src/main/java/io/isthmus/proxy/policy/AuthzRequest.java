package io.isthmus.proxy.policy;

import static java.util.Objects.requireNonNull;

import io.netty.handler.codec.http.HttpHeaders;
import java.net.InetAddress;
import java.util.List;
import java.util.Optional;

/**
 * What authorization reads of one inbound request. The headers are not copied: the view must not
 * outlive the request.
 *
 * @param peerPrincipal the verified SPIFFE URI of the mTLS peer; empty on a plaintext connection
 * @param directRemote  the TCP peer's address
 * @param remote        the client's address as the proxy trusts it (the TCP peer: the inbound
 *                      side trusts no {@code x-forwarded-for})
 * @param path          the normalized path without query, as path rules match it
 */
public record AuthzRequest(
    Optional<String> peerPrincipal,
    InetAddress directRemote,
    InetAddress remote,
    InetAddress destination,
    int destinationPort,
    String sni,
    String method,
    String authority,
    String path,
    HttpHeaders headers) {

  public AuthzRequest {
    requireNonNull(peerPrincipal, "peerPrincipal");
    requireNonNull(directRemote, "directRemote");
    requireNonNull(remote, "remote");
    requireNonNull(destination, "destination");
    requireNonNull(sni, "sni");
    requireNonNull(method, "method");
    requireNonNull(authority, "authority");
    requireNonNull(path, "path");
    requireNonNull(headers, "headers");
  }

  /** A header as Envoy's matchers see it: pseudo-headers included, repeats joined by commas. */
  public String header(String name) {
    return switch (name) {
      case ":authority", "host" -> authority.isEmpty() ? null : authority;
      case ":method" -> method;
      case ":path" -> path;
      case ":scheme" -> peerPrincipal.isPresent() ? "https" : "http";
      default -> {
        List<String> values = headers.getAll(name);
        yield values.isEmpty() ? null : String.join(",", values);
      }
    };
  }
}
