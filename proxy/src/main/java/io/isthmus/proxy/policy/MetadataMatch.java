package io.isthmus.proxy.policy;

import io.envoyproxy.envoy.type.matcher.v3.MetadataMatcher;
import io.envoyproxy.envoy.type.matcher.v3.ValueMatcher;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Predicate;

/**
 * An RBAC {@code metadata} matcher, compiled: the value at a path of keys in one filter's dynamic
 * metadata against a {@link ValueMatcher}, with Envoy's semantics (a missing value matches
 * nothing but {@code null_match}; {@code invert} flips the result). What Istio emits for JWT
 * claims: {@code string_match}, {@code list_match.one_of}, {@code or_match}, {@code present_match}.
 */
final class MetadataMatch {

  private MetadataMatch() {}

  static Predicate<AuthzRequest> of(MetadataMatcher m, String field) {
    if (m.getFilter().isEmpty()) {
      throw new IllegalArgumentException(field + ".filter: empty (expected: a filter name, e.g. "
          + JwtAuthentication.FILTER + ")");
    }
    List<String> path = new ArrayList<>();
    for (int i = 0; i < m.getPathCount(); i++) {
      if (!m.getPath(i).hasKey()) {
        throw new IllegalArgumentException(field + ".path[" + i + "]: no key (expected: key)");
      }
      path.add(m.getPath(i).getKey());
    }
    if (!m.hasValue()) {
      throw new IllegalArgumentException(field + ".value: missing (expected: a value matcher)");
    }
    String filter = m.getFilter();
    List<String> keys = List.copyOf(path);
    Predicate<Object> value = value(m.getValue(), field + ".value");
    boolean invert = m.getInvert();
    return r -> value.test(r.metadata(filter, keys)) != invert;
  }

  private static Predicate<Object> value(ValueMatcher v, String field) {
    return switch (v.getMatchPatternCase()) {
      case NULL_MATCH -> o -> o == null;
      case PRESENT_MATCH -> {
        boolean present = v.getPresentMatch();
        yield o -> (o != null) == present;
      }
      case BOOL_MATCH -> {
        boolean b = v.getBoolMatch();
        yield o -> o instanceof Boolean x && x == b;
      }
      case STRING_MATCH -> {
        StringMatch s = StringMatch.of(v.getStringMatch(), field + ".string_match");
        yield o -> o instanceof String x && s.matches(x);
      }
      case DOUBLE_MATCH -> {
        var d = v.getDoubleMatch();
        yield o -> {
          if (!(o instanceof Number n)) {
            return false;
          }
          double x = n.doubleValue();
          return d.hasRange() ? x >= d.getRange().getStart() && x < d.getRange().getEnd()
              : x == d.getExact();
        };
      }
      case LIST_MATCH -> {
        if (!v.getListMatch().hasOneOf()) {
          throw new IllegalArgumentException(field + ".list_match: no one_of (expected: one_of)");
        }
        Predicate<Object> one = value(v.getListMatch().getOneOf(), field + ".list_match.one_of");
        yield o -> o instanceof List<?> list && list.stream().anyMatch(one);
      }
      case OR_MATCH -> {
        List<Predicate<Object>> any = new ArrayList<>();
        for (int i = 0; i < v.getOrMatch().getValueMatchersCount(); i++) {
          any.add(value(v.getOrMatch().getValueMatchers(i),
              field + ".or_match.value_matchers[" + i + "]"));
        }
        if (any.isEmpty()) {
          throw new IllegalArgumentException(field + ".or_match: empty (expected: matchers)");
        }
        yield o -> any.stream().anyMatch(p -> p.test(o));
      }
      default -> throw new IllegalArgumentException(field + ": " + v.getMatchPatternCase()
          + " (expected: null_match, present_match, bool_match, string_match, double_match,"
          + " list_match or or_match)");
    };
  }
}
