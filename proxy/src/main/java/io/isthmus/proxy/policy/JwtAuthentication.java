package io.isthmus.proxy.policy;

import static java.util.Objects.requireNonNull;

import io.envoyproxy.envoy.config.route.v3.RouteMatch;
import io.envoyproxy.envoy.extensions.filters.http.jwt_authn.v3.JwtRequirement;
import io.envoyproxy.envoy.extensions.filters.http.jwt_authn.v3.RequirementRule;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpHeaders;
import io.netty.handler.codec.http.QueryStringDecoder;
import io.netty.handler.codec.http.cookie.Cookie;
import io.netty.handler.codec.http.cookie.ServerCookieDecoder;
import java.time.Clock;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * One {@code envoy.filters.http.jwt_authn} filter, compiled: its providers (issuer, audiences,
 * inline keys, where the token is, what to forward) and its requirement, evaluated per request as
 * Envoy does. What Istio's RequestAuthentication needs is honoured, the rest is refused at compile
 * time with the field path ({@code remote_jwks}: the controller inlines keys; route-specific
 * requirements; {@code filter_state_rules}; rules not on every path).
 *
 * <p>{@link #authenticate} says whether a request may pass and, if it carried tokens that
 * verified, the filter's dynamic metadata (the payload under each provider's
 * {@code payload_in_metadata}, read by RBAC {@code metadata} matchers) and the header changes to
 * make. Thread-safe: verified tokens are cached per provider by their exact bytes.
 */
public final class JwtAuthentication {

  public static final String FILTER = "envoy.filters.http.jwt_authn";
  public static final String TYPE_URL = "type.googleapis.com/"
      + io.envoyproxy.envoy.extensions.filters.http.jwt_authn.v3.JwtAuthentication.getDescriptor()
          .getFullName();

  /** Why a request was refused: the label of the denial counter and the 401 body. */
  public enum Failure {
    MISSING("Jwt is missing"),
    MALFORMED("Jwt is not in the form of Header.Payload.Signature with two dots and 3 sections"),
    ALGORITHM("Jwt algorithm is not supported"),
    ISSUER("Jwt issuer is not configured"),
    AUDIENCE("Audiences in Jwt are not allowed"),
    EXPIRED("Jwt is expired"),
    NOT_YET_VALID("Jwt not yet valid"),
    UNKNOWN_KEY("Jwks doesn't have key to match kid or alg from Jwt"),
    SIGNATURE("Jwt verification fails");

    private final String message;

    Failure(String message) {
      this.message = message;
    }

    public String message() {
      return message;
    }

    /** The metric label. */
    public String label() {
      return name().toLowerCase(java.util.Locale.ROOT);
    }
  }

  /** What to do with a request: pass (with metadata and header changes) or refuse with 401. */
  public record Result(Failure failure, Map<String, Object> metadata, List<HeaderChange> headers) {
    static final Result PASS = new Result(null, Map.of(), List.of());

    public Result {
      metadata = Map.copyOf(metadata);
      headers = List.copyOf(headers);
    }

    public boolean allowed() {
      return failure == null;
    }
  }

  /** A header to remove ({@code value} null) or set after authentication. */
  public record HeaderChange(String name, String value) {
    public HeaderChange {
      requireNonNull(name, "name");
    }
  }

  /** Where a token was found: a header (removed unless forwarded) or a query parameter/cookie. */
  record Found(String token, String header) {}

  /** The request as token extraction reads it. */
  public record Request(String method, String uri, HttpHeaders headers) {
    public Request {
      requireNonNull(method, "method");
      requireNonNull(uri, "uri");
      requireNonNull(headers, "headers");
    }
  }

  /** No jwt_authn filter: every request passes, none carries verified claims. */
  public static final JwtAuthentication NONE = new JwtAuthentication(Map.of(), null, false);

  private final Map<String, JwtVerifier> providers;
  private final Requirement requirement;
  private final boolean bypassCorsPreflight;

  private JwtAuthentication(Map<String, JwtVerifier> providers, Requirement requirement,
      boolean bypassCorsPreflight) {
    this.providers = providers;
    this.requirement = requirement;
    this.bypassCorsPreflight = bypassCorsPreflight;
  }

  /** Compiles a filter config, or throws {@link IllegalArgumentException} naming the field. */
  public static JwtAuthentication compile(
      io.envoyproxy.envoy.extensions.filters.http.jwt_authn.v3.JwtAuthentication config,
      String field, Clock clock) {
    requireNonNull(config, "config");
    requireNonNull(clock, "clock");
    if (config.hasFilterStateRules()) {
      throw new IllegalArgumentException(field + ".filter_state_rules: not supported (expected:"
          + " rules)");
    }
    if (config.getRequirementMapCount() > 0) {
      throw new IllegalArgumentException(field + ".requirement_map: not supported (expected:"
          + " rules with requires)");
    }
    Map<String, JwtVerifier> providers = new TreeMap<>();
    config.getProvidersMap().forEach((name, p) ->
        providers.put(name, JwtVerifier.compile(p, field + ".providers[" + name + "]", clock)));
    if (config.getRulesCount() > 1) {
      throw new IllegalArgumentException(field + ".rules: " + config.getRulesCount()
          + " rules (expected: at most one, on prefix \"/\")");
    }
    Requirement requirement = null;
    if (config.getRulesCount() == 1) {
      RequirementRule rule = config.getRules(0);
      String at = field + ".rules[0]";
      RouteMatch match = rule.getMatch();
      if (!(match.getPathSpecifierCase() == RouteMatch.PathSpecifierCase.PREFIX
          && match.getPrefix().equals("/") && match.getHeadersCount() == 0
          && match.getQueryParametersCount() == 0 && !match.hasRuntimeFraction())) {
        throw new IllegalArgumentException(at + ".match: " + match.toString().strip()
            + " (expected: prefix \"/\" only: a rule on some paths would be matched before the"
            + " path is normalized)");
      }
      if (!rule.hasRequires()) {
        throw new IllegalArgumentException(at + ".requires: missing (expected: a requirement;"
            + " requirement_name is not supported)");
      }
      requirement = Requirement.compile(rule.getRequires(), at + ".requires", providers);
    }
    return new JwtAuthentication(Map.copyOf(providers), requirement,
        config.getBypassCorsPreflight());
  }

  /** Whether any request can be refused or carry verified claims. */
  public boolean active() {
    return requirement != null;
  }

  /** The verdict on one request; never blocks (keys are inline, signatures cached). */
  public Result authenticate(Request request) {
    if (requirement == null) {
      return Result.PASS;
    }
    HttpHeaders h = request.headers();
    if (bypassCorsPreflight && request.method().equals("OPTIONS")
        && h.contains(HttpHeaderNames.ORIGIN)
        && h.contains(HttpHeaderNames.ACCESS_CONTROL_REQUEST_METHOD)) {
      return Result.PASS;
    }
    Evaluation eval = new Evaluation(request);
    Outcome outcome = requirement.evaluate(eval);
    if (outcome.failure() != null) {
      return new Result(outcome.failure(), Map.of(), List.of());
    }
    Map<String, Object> metadata = new LinkedHashMap<>();
    List<HeaderChange> changes = new ArrayList<>();
    for (var e : eval.verified.entrySet()) {
      JwtVerifier p = providers.get(e.getKey());
      Verified v = e.getValue();
      if (v.claims() == null) {
        continue;
      }
      if (!p.payloadInMetadata().isEmpty()) {
        metadata.put(p.payloadInMetadata(), v.claims().payload());
      }
      if (!p.forward() && v.found().header() != null) {
        changes.add(new HeaderChange(v.found().header(), null));
      }
      if (!p.forwardPayloadHeader().isEmpty()) {
        changes.add(new HeaderChange(p.forwardPayloadHeader(), v.claims().encodedPayload()));
      }
      p.claimToHeaders().forEach((header, claim) -> {
        Object value = v.claims().payload().get(claim);
        if (value instanceof String || value instanceof Number || value instanceof Boolean) {
          changes.add(new HeaderChange(header, value.toString()));
        }
      });
    }
    return new Result(null, metadata, changes);
  }

  /** One token verified (or refused) by one provider. */
  record Verified(Found found, JwtVerifier.Claims claims, Failure failure) {}

  /** The outcome of a requirement: pass, or the reason to refuse; {@code missing}: no token. */
  record Outcome(Failure failure, boolean missing) {
    static final Outcome OK = new Outcome(null, false);
    static final Outcome MISSING = new Outcome(Failure.MISSING, true);
  }

  /** Per-request memo: each provider extracts and verifies at most once. */
  private final class Evaluation {
    private final Request request;
    private QueryStringDecoder query;
    private final Map<String, Verified> verified = new LinkedHashMap<>();

    Evaluation(Request request) {
      this.request = request;
    }

    Outcome provider(String name, List<String> audiences) {
      Verified v = verified.get(name);
      if (v == null) {
        JwtVerifier p = providers.get(name);
        Found found = extract(p);
        if (found == null) {
          return Outcome.MISSING;
        }
        JwtVerifier.Verification r = p.verify(found.token(), audiences);
        v = new Verified(found, r.claims(), r.failure());
        verified.put(name, v);
      }
      return v.failure() == null ? Outcome.OK : new Outcome(v.failure(), false);
    }

    /** {@code allow_missing} alone: no token anywhere passes; a token must verify with some provider. */
    Outcome anyProviderOrMissing() {
      Outcome failed = null;
      for (String name : providers.keySet()) {
        Outcome o = provider(name, null);
        if (o.failure() == null) {
          return Outcome.OK;
        }
        if (!o.missing() && failed == null) {
          failed = o;
        }
      }
      return failed == null ? Outcome.OK : failed;
    }

    private Found extract(JwtVerifier p) {
      for (var header : p.fromHeaders()) {
        String value = request.headers().get(header.name());
        if (value != null && value.startsWith(header.prefix())) {
          String token = value.substring(header.prefix().length()).trim();
          if (!token.isEmpty()) {
            return new Found(token, header.name());
          }
        }
      }
      if (!p.fromParams().isEmpty()) {
        if (query == null) {
          query = new QueryStringDecoder(request.uri());
        }
        for (String param : p.fromParams()) {
          List<String> values = query.parameters().get(param);
          if (values != null && !values.isEmpty() && !values.get(0).isEmpty()) {
            return new Found(values.get(0), null);
          }
        }
      }
      if (!p.fromCookies().isEmpty()) {
        for (String cookieHeader : request.headers().getAll(HttpHeaderNames.COOKIE)) {
          for (Cookie c : ServerCookieDecoder.LAX.decode(cookieHeader)) {
            if (p.fromCookies().contains(c.name()) && !c.value().isEmpty()) {
              return new Found(c.value(), null);
            }
          }
        }
      }
      return null;
    }
  }

  /** A compiled {@link JwtRequirement}. */
  private interface Requirement {
    Outcome evaluate(Evaluation eval);

    static Requirement compile(JwtRequirement r, String field, Map<String, JwtVerifier> providers) {
      return switch (r.getRequiresTypeCase()) {
        case PROVIDER_NAME -> {
          String name = provider(r.getProviderName(), field + ".provider_name", providers);
          yield eval -> eval.provider(name, null);
        }
        case PROVIDER_AND_AUDIENCES -> {
          String name = provider(r.getProviderAndAudiences().getProviderName(),
              field + ".provider_and_audiences.provider_name", providers);
          List<String> audiences = List.copyOf(r.getProviderAndAudiences().getAudiencesList());
          yield eval -> eval.provider(name, audiences);
        }
        case REQUIRES_ANY -> {
          List<Requirement> any = all(r.getRequiresAny().getRequirementsList(),
              field + ".requires_any", providers);
          yield eval -> {
            Outcome failed = null;
            boolean allMissing = true;
            boolean allowMissing = false;
            for (Requirement child : any) {
              if (child == ALLOW_MISSING_OR_FAILED) {
                return Outcome.OK;
              }
              if (child == ALLOW_MISSING) {
                allowMissing = true;
                continue;
              }
              Outcome o = child.evaluate(eval);
              if (o.failure() == null) {
                return Outcome.OK;
              }
              if (!o.missing()) {
                allMissing = false;
                if (failed == null) {
                  failed = o;
                }
              }
            }
            if (allowMissing && allMissing) {
              return Outcome.OK;
            }
            return failed != null ? failed : Outcome.MISSING;
          };
        }
        case REQUIRES_ALL -> {
          List<Requirement> every = all(r.getRequiresAll().getRequirementsList(),
              field + ".requires_all", providers);
          yield eval -> {
            for (Requirement child : every) {
              Outcome o = child.evaluate(eval);
              if (o.failure() != null) {
                return o;
              }
            }
            return Outcome.OK;
          };
        }
        case ALLOW_MISSING -> ALLOW_MISSING;
        case ALLOW_MISSING_OR_FAILED -> ALLOW_MISSING_OR_FAILED;
        default -> throw new IllegalArgumentException(field + ": empty requirement (expected:"
            + " provider_name, provider_and_audiences, requires_any, requires_all, allow_missing"
            + " or allow_missing_or_failed)");
      };
    }

    private static String provider(String name, String field, Map<String, JwtVerifier> providers) {
      if (!providers.containsKey(name)) {
        throw new IllegalArgumentException(field + ": '" + name + "' (expected: one of "
            + providers.keySet() + ")");
      }
      return name;
    }

    private static List<Requirement> all(List<JwtRequirement> items, String field,
        Map<String, JwtVerifier> providers) {
      if (items.size() < 2) {
        throw new IllegalArgumentException(field + ".requirements: " + items.size()
            + " entries (expected: at least 2)");
      }
      List<Requirement> out = new ArrayList<>();
      for (int i = 0; i < items.size(); i++) {
        out.add(compile(items.get(i), field + ".requirements[" + i + "]", providers));
      }
      return List.copyOf(out);
    }
  }

  /** Alone: a request without any token passes, one with a token that fails does not. */
  private static final Requirement ALLOW_MISSING = Evaluation::anyProviderOrMissing;

  private static final Requirement ALLOW_MISSING_OR_FAILED = eval -> Outcome.OK;

  /** The compiled providers, by name (for diagnostics and tests). */
  Map<String, JwtVerifier> providers() {
    return providers;
  }
}
