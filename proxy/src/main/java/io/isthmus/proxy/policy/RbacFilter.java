package io.isthmus.proxy.policy;

import static java.util.Objects.requireNonNull;

import io.envoyproxy.envoy.config.core.v3.CidrRange;
import io.envoyproxy.envoy.config.rbac.v3.Permission;
import io.envoyproxy.envoy.config.rbac.v3.Policy;
import io.envoyproxy.envoy.config.rbac.v3.Principal;
import io.envoyproxy.envoy.config.rbac.v3.RBAC;
import java.net.InetAddress;
import java.net.UnknownHostException;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;
import java.util.function.Predicate;
import java.util.regex.Pattern;

/**
 * One {@code envoy.filters.http.rbac} filter, compiled: its action and named policies. A policy
 * matches a request when one of its permissions and one of its principals do (Envoy v3
 * semantics). {@code metadata} matchers read the jwt_authn filter's dynamic metadata (the verified
 * JWT payload, {@link AuthzRequest#metadata}); other filters set none. Immutable.
 */
public final class RbacFilter {

  /** What a matching policy means. */
  public enum Action { ALLOW, DENY, LOG }

  private static final Pattern IPV4 = Pattern.compile("\\d{1,3}(\\.\\d{1,3}){3}");

  private final Action action;
  /** Absent {@code rules}: Envoy applies no policy at all (the filter lets everything through). */
  private final boolean enforcing;
  private final List<Map.Entry<String, Predicate<AuthzRequest>>> policies;

  private RbacFilter(Action action, boolean enforcing, Map<String, Predicate<AuthzRequest>> policies) {
    this.action = action;
    this.enforcing = enforcing;
    // Sorted by name: which policy is reported for a request must not depend on map order.
    this.policies = List.copyOf(new TreeMap<>(policies).entrySet());
  }

  /** Compiles a filter config, or throws {@link IllegalArgumentException} naming the field. */
  public static RbacFilter compile(io.envoyproxy.envoy.extensions.filters.http.rbac.v3.RBAC config,
      String field) {
    requireNonNull(config, "config");
    if (!config.hasRules()) {
      return new RbacFilter(Action.ALLOW, false, Map.of());
    }
    RBAC rules = config.getRules();
    Action action = switch (rules.getAction()) {
      case ALLOW -> Action.ALLOW;
      case DENY -> Action.DENY;
      case LOG -> Action.LOG;
      default -> throw new IllegalArgumentException(field + ".rules.action: "
          + rules.getAction() + " (expected: ALLOW, DENY or LOG)");
    };
    Map<String, Predicate<AuthzRequest>> policies = new TreeMap<>();
    rules.getPoliciesMap().forEach((name, policy) ->
        policies.put(name, policy(policy, field + ".rules.policies[" + name + "]")));
    return new RbacFilter(action, true, policies);
  }

  /** An enforcing ALLOW filter without policies: nothing matches, every request is denied. */
  static RbacFilter denyAll() {
    return new RbacFilter(Action.ALLOW, true, Map.of());
  }

  public Action action() {
    return action;
  }

  public boolean enforcing() {
    return enforcing;
  }

  /** The first matching policy (by name), if any. */
  public Optional<String> matchingPolicy(AuthzRequest request) {
    for (var e : policies) {
      if (e.getValue().test(request)) {
        return Optional.of(e.getKey());
      }
    }
    return Optional.empty();
  }

  private static Predicate<AuthzRequest> policy(Policy policy, String field) {
    if (policy.hasCondition() || policy.hasCheckedCondition()) {
      throw new IllegalArgumentException(field + ".condition: CEL conditions are not supported");
    }
    List<Predicate<AuthzRequest>> permissions = new ArrayList<>();
    for (int i = 0; i < policy.getPermissionsCount(); i++) {
      permissions.add(permission(policy.getPermissions(i), field + ".permissions[" + i + "]"));
    }
    List<Predicate<AuthzRequest>> principals = new ArrayList<>();
    for (int i = 0; i < policy.getPrincipalsCount(); i++) {
      principals.add(principal(policy.getPrincipals(i), field + ".principals[" + i + "]"));
    }
    if (permissions.isEmpty() || principals.isEmpty()) {
      throw new IllegalArgumentException(field + ": has no " + (permissions.isEmpty()
          ? "permissions" : "principals") + " (expected: at least one; use any: true)");
    }
    Predicate<AuthzRequest> anyPermission = any(permissions);
    Predicate<AuthzRequest> anyPrincipal = any(principals);
    return r -> anyPermission.test(r) && anyPrincipal.test(r);
  }

  private static Predicate<AuthzRequest> permission(Permission p, String field) {
    return switch (p.getRuleCase()) {
      case ANY -> r -> p.getAny();
      case AND_RULES -> all(compileAll(p.getAndRules().getRulesList(), field + ".and_rules",
          RbacFilter::permission));
      case OR_RULES -> any(compileAll(p.getOrRules().getRulesList(), field + ".or_rules",
          RbacFilter::permission));
      case NOT_RULE -> permission(p.getNotRule(), field + ".not_rule").negate();
      case HEADER -> {
        HeaderMatch h = HeaderMatch.of(p.getHeader(), field + ".header");
        yield r -> h.matches(r.header(h.name()));
      }
      case URL_PATH -> {
        if (!p.getUrlPath().hasPath()) {
          throw new IllegalArgumentException(field + ".url_path.path: missing");
        }
        StringMatch m = StringMatch.of(p.getUrlPath().getPath(), field + ".url_path.path");
        yield r -> m.matches(r.path());
      }
      case DESTINATION_IP -> {
        Cidr c = Cidr.of(p.getDestinationIp(), field + ".destination_ip");
        yield r -> c.contains(r.destination());
      }
      case DESTINATION_PORT -> {
        int port = p.getDestinationPort();
        yield r -> r.destinationPort() == port;
      }
      case DESTINATION_PORT_RANGE -> {
        long start = p.getDestinationPortRange().getStart();
        long end = p.getDestinationPortRange().getEnd();
        yield r -> r.destinationPort() >= start && r.destinationPort() < end;
      }
      case REQUESTED_SERVER_NAME -> {
        StringMatch m = StringMatch.of(p.getRequestedServerName(), field + ".requested_server_name");
        yield r -> m.matches(r.sni());
      }
      case METADATA -> MetadataMatch.of(p.getMetadata(), field + ".metadata");
      default -> throw new IllegalArgumentException(field + ": permission " + p.getRuleCase()
          + " is not supported (expected: any, and_rules, or_rules, not_rule, header, url_path,"
          + " destination_ip, destination_port, destination_port_range, requested_server_name,"
          + " metadata)");
    };
  }

  private static Predicate<AuthzRequest> principal(Principal p, String field) {
    return switch (p.getIdentifierCase()) {
      case ANY -> r -> p.getAny();
      case AND_IDS -> all(compileAll(p.getAndIds().getIdsList(), field + ".and_ids",
          RbacFilter::principal));
      case OR_IDS -> any(compileAll(p.getOrIds().getIdsList(), field + ".or_ids",
          RbacFilter::principal));
      case NOT_ID -> principal(p.getNotId(), field + ".not_id").negate();
      case AUTHENTICATED -> {
        if (!p.getAuthenticated().hasPrincipalName()) {
          // Envoy: no principal_name matches any authenticated (mTLS) peer.
          yield r -> r.peerPrincipal().isPresent();
        }
        StringMatch m = StringMatch.of(p.getAuthenticated().getPrincipalName(),
            field + ".authenticated.principal_name");
        yield r -> r.peerPrincipal().map(m::matches).orElse(false);
      }
      case DIRECT_REMOTE_IP -> {
        Cidr c = Cidr.of(p.getDirectRemoteIp(), field + ".direct_remote_ip");
        yield r -> c.contains(r.directRemote());
      }
      case SOURCE_IP -> {
        Cidr c = Cidr.of(p.getSourceIp(), field + ".source_ip");
        yield r -> c.contains(r.directRemote());
      }
      case REMOTE_IP -> {
        Cidr c = Cidr.of(p.getRemoteIp(), field + ".remote_ip");
        yield r -> c.contains(r.remote());
      }
      case HEADER -> {
        HeaderMatch h = HeaderMatch.of(p.getHeader(), field + ".header");
        yield r -> h.matches(r.header(h.name()));
      }
      case URL_PATH -> {
        StringMatch m = StringMatch.of(p.getUrlPath().getPath(), field + ".url_path.path");
        yield r -> m.matches(r.path());
      }
      case METADATA -> MetadataMatch.of(p.getMetadata(), field + ".metadata");
      default -> throw new IllegalArgumentException(field + ": principal " + p.getIdentifierCase()
          + " is not supported (expected: any, and_ids, or_ids, not_id, authenticated,"
          + " direct_remote_ip, source_ip, remote_ip, header, url_path, metadata)");
    };
  }

  private interface Compiler<T> {
    Predicate<AuthzRequest> compile(T item, String field);
  }

  private static <T> List<Predicate<AuthzRequest>> compileAll(List<T> items, String field,
      Compiler<T> compiler) {
    if (items.isEmpty()) {
      throw new IllegalArgumentException(field + ": empty (expected: at least one entry)");
    }
    List<Predicate<AuthzRequest>> out = new ArrayList<>(items.size());
    for (int i = 0; i < items.size(); i++) {
      out.add(compiler.compile(items.get(i), field + "[" + i + "]"));
    }
    return out;
  }

  private static Predicate<AuthzRequest> all(List<Predicate<AuthzRequest>> parts) {
    return r -> {
      for (Predicate<AuthzRequest> p : parts) {
        if (!p.test(r)) {
          return false;
        }
      }
      return true;
    };
  }

  private static Predicate<AuthzRequest> any(List<Predicate<AuthzRequest>> parts) {
    return r -> {
      for (Predicate<AuthzRequest> p : parts) {
        if (p.test(r)) {
          return true;
        }
      }
      return false;
    };
  }

  /** A CIDR range, parsed without name lookups. */
  record Cidr(byte[] prefix, int length) {

    static Cidr of(CidrRange range, String field) {
      String address = range.getAddressPrefix();
      if (!IPV4.matcher(address).matches() && !(address.contains(":")
          && address.matches("[0-9a-fA-F:.]+"))) {
        throw new IllegalArgumentException(field + ".address_prefix: '" + address
            + "' (expected: an IPv4 or IPv6 address literal)");
      }
      byte[] bytes;
      try {
        bytes = InetAddress.getByName(address).getAddress();
      } catch (UnknownHostException e) {
        throw new IllegalArgumentException(field + ".address_prefix: '" + address
            + "' (expected: an IPv4 or IPv6 address literal)");
      }
      int len = range.hasPrefixLen() ? range.getPrefixLen().getValue() : bytes.length * 8;
      if (len > bytes.length * 8) {
        throw new IllegalArgumentException(field + ".prefix_len: " + len + " (expected: at most "
            + bytes.length * 8 + ")");
      }
      return new Cidr(bytes, len);
    }

    boolean contains(InetAddress address) {
      byte[] a = address.getAddress();
      if (a.length != prefix.length) {
        return false;
      }
      int full = length / 8;
      for (int i = 0; i < full; i++) {
        if (a[i] != prefix[i]) {
          return false;
        }
      }
      int rest = length % 8;
      if (rest == 0) {
        return true;
      }
      int mask = (0xFF << (8 - rest)) & 0xFF;
      return (a[full] & mask) == (prefix[full] & mask);
    }
  }
}
