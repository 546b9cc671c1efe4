package io.isthmus.proxy.policy;

import com.nimbusds.jose.JOSEException;
import com.nimbusds.jose.JWSAlgorithm;
import com.nimbusds.jose.JWSHeader;
import com.nimbusds.jose.JWSVerifier;
import com.nimbusds.jose.crypto.ECDSAVerifier;
import com.nimbusds.jose.crypto.RSASSAVerifier;
import com.nimbusds.jose.jwk.Curve;
import com.nimbusds.jose.jwk.ECKey;
import com.nimbusds.jose.jwk.JWK;
import com.nimbusds.jose.jwk.JWKSet;
import com.nimbusds.jose.jwk.RSAKey;
import com.nimbusds.jose.util.Base64URL;
import com.nimbusds.jose.util.JSONObjectUtils;
import com.nimbusds.jwt.JWTClaimsSet;
import com.nimbusds.jwt.SignedJWT;
import io.envoyproxy.envoy.extensions.filters.http.jwt_authn.v3.JwtProvider;
import io.isthmus.proxy.policy.JwtAuthentication.Failure;
import java.nio.charset.StandardCharsets;
import java.text.ParseException;
import java.time.Clock;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;

/**
 * One jwt_authn provider, compiled: checks a token's form, algorithm, signature (RS*, PS*, ES*
 * with the inline JWKS), issuer, audiences, {@code exp} and {@code nbf} (with the provider's clock
 * skew, Envoy's default 60 s). Tokens that verified are cached by their exact text until they
 * expire, so a token seen again costs a map lookup, not a signature check. Thread-safe.
 */
final class JwtVerifier {

  private static final org.slf4j.Logger log = org.slf4j.LoggerFactory.getLogger(JwtVerifier.class);

  /** Envoy's default clock skew. */
  static final long DEFAULT_SKEW_SECONDS = 60;
  /** Bound on cached tokens per provider: a flood of distinct valid tokens evicts, never grows. */
  static final int CACHE_MAX = 4096;

  private static final Set<JWSAlgorithm> RSA = Set.of(JWSAlgorithm.RS256, JWSAlgorithm.RS384,
      JWSAlgorithm.RS512, JWSAlgorithm.PS256, JWSAlgorithm.PS384, JWSAlgorithm.PS512);
  private static final Map<JWSAlgorithm, Curve> EC = Map.of(JWSAlgorithm.ES256, Curve.P_256,
      JWSAlgorithm.ES384, Curve.P_384, JWSAlgorithm.ES512, Curve.P_521);

  record JwtHeaderSource(String name, String prefix) {}

  /** A verified payload; {@code expiresAt} null: no {@code exp}. */
  record Claims(Map<String, Object> payload, String encodedPayload, Instant expiresAt,
      Instant notBefore) {}

  record Verification(Claims claims, Failure failure) {}

  private record Key(JWK jwk, JWSVerifier verifier) {}

  private final String issuer;
  private final List<String> audiences;
  private final List<Key> keys;
  private final boolean forward;
  private final List<JwtHeaderSource> fromHeaders;
  private final List<String> fromParams;
  private final List<String> fromCookies;
  private final String forwardPayloadHeader;
  private final String payloadInMetadata;
  private final Map<String, String> claimToHeaders;
  private final long skewSeconds;
  private final Clock clock;
  private final Map<String, Claims> cache = new ConcurrentHashMap<>();

  private JwtVerifier(JwtProvider p, List<Key> keys, Clock clock) {
    this.issuer = p.getIssuer();
    this.audiences = List.copyOf(p.getAudiencesList());
    this.keys = List.copyOf(keys);
    this.forward = p.getForward();
    List<JwtHeaderSource> headers = new ArrayList<>();
    p.getFromHeadersList().forEach(h -> headers.add(new JwtHeaderSource(h.getName(), h.getValuePrefix())));
    List<String> params = List.copyOf(p.getFromParamsList());
    if (headers.isEmpty() && params.isEmpty() && p.getFromCookiesCount() == 0) {
      // Envoy's default places: Authorization: Bearer <token>, then ?access_token=<token>.
      headers.add(new JwtHeaderSource("authorization", "Bearer "));
      params = List.of("access_token");
    }
    this.fromHeaders = List.copyOf(headers);
    this.fromParams = params;
    this.fromCookies = List.copyOf(p.getFromCookiesList());
    this.forwardPayloadHeader = p.getForwardPayloadHeader();
    this.payloadInMetadata = p.getPayloadInMetadata();
    Map<String, String> claims = new LinkedHashMap<>();
    p.getClaimToHeadersList().forEach(c -> claims.put(c.getHeaderName(), c.getClaimName()));
    this.claimToHeaders = Map.copyOf(claims);
    this.skewSeconds = p.getClockSkewSeconds() == 0 ? DEFAULT_SKEW_SECONDS : p.getClockSkewSeconds();
    this.clock = clock;
  }

  static JwtVerifier compile(JwtProvider p, String field, Clock clock) {
    if (p.hasRemoteJwks()) {
      throw new IllegalArgumentException(field + ".remote_jwks: not supported (expected:"
          + " local_jwks; the controller fetches jwksUri and inlines the keys)");
    }
    if (!p.hasLocalJwks()) {
      throw new IllegalArgumentException(field + ": no keys (expected: local_jwks)");
    }
    String json = switch (p.getLocalJwks().getSpecifierCase()) {
      case INLINE_STRING -> p.getLocalJwks().getInlineString();
      case INLINE_BYTES -> p.getLocalJwks().getInlineBytes().toString(StandardCharsets.UTF_8);
      default -> throw new IllegalArgumentException(field + ".local_jwks: "
          + p.getLocalJwks().getSpecifierCase() + " (expected: inline_string or inline_bytes)");
    };
    if (p.hasSubjects() || p.hasMaxLifetime() || p.getRequireExpiration()
        || !p.getHeaderInMetadata().isEmpty() || !p.getFailedStatusInMetadata().isEmpty()
        || p.hasNormalizePayloadInMetadata()) {
      throw new IllegalArgumentException(field + ": subjects, max_lifetime, require_expiration,"
          + " header_in_metadata, failed_status_in_metadata and normalize_payload_in_metadata are"
          + " not supported (expected: unset)");
    }
    for (int i = 0; i < p.getFromHeadersCount(); i++) {
      if (p.getFromHeaders(i).getName().isEmpty()) {
        throw new IllegalArgumentException(field + ".from_headers[" + i + "].name: empty"
            + " (expected: a header name)");
      }
    }
    JWKSet set;
    try {
      set = JWKSet.parse(json);
    } catch (ParseException e) {
      throw new IllegalArgumentException(field + ".local_jwks: not a JSON Web Key Set: "
          + e.getMessage() + " (expected: {\"keys\": [...]})", e);
    }
    List<Key> keys = new ArrayList<>();
    for (JWK jwk : set.getKeys()) {
      try {
        if (jwk instanceof RSAKey rsa) {
          keys.add(new Key(jwk, new RSASSAVerifier(rsa)));
        } else if (jwk instanceof ECKey ec) {
          keys.add(new Key(jwk, new ECDSAVerifier(ec)));
        }
        // Other key types (oct, OKP) verify no accepted algorithm: left out.
      } catch (JOSEException e) {
        // An issuer's set may hold keys this proxy cannot use; tokens signed with them fail.
        log.warn("{}.local_jwks: key '{}' unusable, left out: {}", field, jwk.getKeyID(),
            e.getMessage());
      }
    }
    return new JwtVerifier(p, keys, clock);
  }

  boolean forward() {
    return forward;
  }

  List<JwtHeaderSource> fromHeaders() {
    return fromHeaders;
  }

  List<String> fromParams() {
    return fromParams;
  }

  List<String> fromCookies() {
    return fromCookies;
  }

  String forwardPayloadHeader() {
    return forwardPayloadHeader;
  }

  String payloadInMetadata() {
    return payloadInMetadata;
  }

  Map<String, String> claimToHeaders() {
    return claimToHeaders;
  }

  int cacheSize() {
    return cache.size();
  }

  /**
   * Verifies {@code token}.
   *
   * @param audiencesOverride the requirement's audiences ({@code provider_and_audiences}), or
   *                          null for the provider's own
   */
  Verification verify(String token, List<String> audiencesOverride) {
    List<String> allowed = audiencesOverride == null ? audiences : audiencesOverride;
    Instant now = clock.instant();
    Claims cached = cache.get(token);
    if (cached != null) {
      Failure f = times(cached, now);
      if (f != null) {
        cache.remove(token, cached);
        return new Verification(null, f);
      }
      Failure aud = audience(cached.payload(), allowed);
      return aud == null ? new Verification(cached, null) : new Verification(null, aud);
    }
    Verification v = verifyUncached(token, allowed, now);
    if (v.failure() == null) {
      if (cache.size() >= CACHE_MAX) {
        evict(now);
      }
      cache.put(token, v.claims());
    }
    return v;
  }

  private Verification verifyUncached(String token, List<String> allowed, Instant now) {
    String[] parts = token.split("\\.", -1);
    if (parts.length != 3 || parts[0].isEmpty() || parts[1].isEmpty()) {
      return new Verification(null, Failure.MALFORMED);
    }
    JWSAlgorithm alg;
    try {
      Object a = JSONObjectUtils.parse(new Base64URL(parts[0]).decodeToString()).get("alg");
      if (!(a instanceof String name)) {
        return new Verification(null, Failure.MALFORMED);
      }
      alg = JWSAlgorithm.parse(name);
    } catch (ParseException | RuntimeException e) {
      return new Verification(null, Failure.MALFORMED);
    }
    // "none", HMAC and anything else: refused before any parsing of the claims.
    if (!RSA.contains(alg) && !EC.containsKey(alg)) {
      return new Verification(null, Failure.ALGORITHM);
    }
    SignedJWT jwt;
    JWTClaimsSet claimsSet;
    try {
      jwt = SignedJWT.parse(token);
      claimsSet = jwt.getJWTClaimsSet();
    } catch (ParseException e) {
      return new Verification(null, Failure.MALFORMED);
    }
    if (!issuer.isEmpty() && !issuer.equals(claimsSet.getIssuer())) {
      return new Verification(null, Failure.ISSUER);
    }
    Claims claims = new Claims(claimsSet.toJSONObject(), parts[1],
        claimsSet.getExpirationTime() == null ? null : claimsSet.getExpirationTime().toInstant(),
        claimsSet.getNotBeforeTime() == null ? null : claimsSet.getNotBeforeTime().toInstant());
    Failure time = times(claims, now);
    if (time != null) {
      return new Verification(null, time);
    }
    Failure aud = audience(claims.payload(), allowed);
    if (aud != null) {
      return new Verification(null, aud);
    }
    JWSHeader header = jwt.getHeader();
    boolean candidate = false;
    for (Key key : keys) {
      if (!fits(key.jwk(), header)) {
        continue;
      }
      candidate = true;
      try {
        if (jwt.verify(key.verifier())) {
          return new Verification(claims, null);
        }
      } catch (JOSEException e) {
        // This key cannot check this signature: try the next one.
      }
    }
    return new Verification(null, candidate ? Failure.SIGNATURE : Failure.UNKNOWN_KEY);
  }

  /** The key's id (when both have one), algorithm (when the key names one) and type fit the token. */
  private static boolean fits(JWK jwk, JWSHeader header) {
    if (header.getKeyID() != null && jwk.getKeyID() != null
        && !header.getKeyID().equals(jwk.getKeyID())) {
      return false;
    }
    if (jwk.getAlgorithm() != null && !jwk.getAlgorithm().equals(header.getAlgorithm())) {
      return false;
    }
    if (jwk instanceof RSAKey) {
      return RSA.contains(header.getAlgorithm());
    }
    if (jwk instanceof ECKey ec) {
      return ec.getCurve().equals(EC.get(header.getAlgorithm()));
    }
    return false;
  }

  private Failure times(Claims c, Instant now) {
    if (c.expiresAt() != null && now.isAfter(c.expiresAt().plusSeconds(skewSeconds))) {
      return Failure.EXPIRED;
    }
    if (c.notBefore() != null && now.plusSeconds(skewSeconds).isBefore(c.notBefore())) {
      return Failure.NOT_YET_VALID;
    }
    return null;
  }

  /** Envoy: with audiences configured, the token's {@code aud} (string or list) must name one. */
  private static Failure audience(Map<String, Object> payload, List<String> allowed) {
    if (allowed.isEmpty()) {
      return null;
    }
    Object aud = payload.get("aud");
    if (aud instanceof String s) {
      return allowed.contains(s) ? null : Failure.AUDIENCE;
    }
    if (aud instanceof List<?> list) {
      for (Object o : list) {
        if (o instanceof String s && allowed.contains(s)) {
          return null;
        }
      }
    }
    return Failure.AUDIENCE;
  }

  /** Drops expired tokens, then, if still full, arbitrary ones (a cache, not a store). */
  private void evict(Instant now) {
    cache.values().removeIf(c -> times(c, now) != null);
    Iterator<String> it = cache.keySet().iterator();
    while (cache.size() >= CACHE_MAX && it.hasNext()) {
      it.next();
      it.remove();
    }
  }
}
