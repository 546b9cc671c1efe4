package io.isthmus.proxy.policy;

import static java.util.Objects.requireNonNull;

import io.netty.handler.codec.http.HttpHeaders;
import java.net.InetAddress;
import java.util.List;
import java.util.Map;
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
 * @param jwtMetadata   the dynamic metadata of the jwt_authn filter: each verified token's
 *                      payload under its provider's {@code payload_in_metadata} key; empty
 *                      without a verified token
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
    HttpHeaders headers,
    Map<String, Object> jwtMetadata) {

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
    requireNonNull(jwtMetadata, "jwtMetadata");
  }

  /** A request without verified JWT claims. */
  public AuthzRequest(Optional<String> peerPrincipal, InetAddress directRemote, InetAddress remote,
      InetAddress destination, int destinationPort, String sni, String method, String authority,
      String path, HttpHeaders headers) {
    this(peerPrincipal, directRemote, remote, destination, destinationPort, sni, method, authority,
        path, headers, Map.of());
  }

  /**
   * The value at {@code path} in the dynamic metadata of {@code filter}, or null. Only the
   * jwt_authn filter sets metadata before RBAC runs.
   */
  public Object metadata(String filter, List<String> path) {
    if (!filter.equals(JwtAuthentication.FILTER)) {
      return null;
    }
    Object at = jwtMetadata;
    for (String key : path) {
      if (!(at instanceof Map<?, ?> map)) {
        return null;
      }
      at = map.get(key);
    }
    return at;
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
