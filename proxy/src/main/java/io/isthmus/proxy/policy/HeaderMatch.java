package io.isthmus.proxy.policy;

import static java.util.Objects.requireNonNull;

import io.envoyproxy.envoy.config.route.v3.HeaderMatcher;
import io.envoyproxy.envoy.config.route.v3.QueryParameterMatcher;
import java.util.List;

/**
 * Envoy's {@code HeaderMatcher} (and {@code QueryParameterMatcher}), compiled. A
 * {@code null} {@link #value} means "present"; {@code rangeStart}/{@code rangeEnd} apply when
 * {@code range} is set. Immutable.
 */
public record HeaderMatch(String name, StringMatch value, boolean presentExpected, boolean range,
    long rangeStart, long rangeEnd, boolean invert) {

  public HeaderMatch {
    requireNonNull(name, "name");
  }

  static HeaderMatch of(HeaderMatcher m, String field) {
    String name = m.getName().toLowerCase(java.util.Locale.ROOT);
    if (name.isEmpty()) {
      throw new IllegalArgumentException(field + ".name: empty (expected: a header name)");
    }
    boolean inv = m.getInvertMatch();
    return switch (m.getHeaderMatchSpecifierCase()) {
      case EXACT_MATCH -> new HeaderMatch(name, StringMatch.exact(m.getExactMatch()), true,
          false, 0, 0, inv);
      case PREFIX_MATCH -> new HeaderMatch(name, new StringMatch(StringMatch.Kind.PREFIX,
          m.getPrefixMatch(), null, false), true, false, 0, 0, inv);
      case SUFFIX_MATCH -> new HeaderMatch(name, new StringMatch(StringMatch.Kind.SUFFIX,
          m.getSuffixMatch(), null, false), true, false, 0, 0, inv);
      case CONTAINS_MATCH -> new HeaderMatch(name, new StringMatch(StringMatch.Kind.CONTAINS,
          m.getContainsMatch(), null, false), true, false, 0, 0, inv);
      case SAFE_REGEX_MATCH -> new HeaderMatch(name, new StringMatch(StringMatch.Kind.REGEX,
          m.getSafeRegexMatch().getRegex(), SafeRegex.compile(m.getSafeRegexMatch().getRegex(),
              field + ".safe_regex_match"), false), true, false, 0, 0, inv);
      case STRING_MATCH -> new HeaderMatch(name,
          StringMatch.of(m.getStringMatch(), field + ".string_match"), true, false, 0, 0, inv);
      case PRESENT_MATCH -> new HeaderMatch(name, null, m.getPresentMatch(), false, 0, 0, inv);
      case RANGE_MATCH -> new HeaderMatch(name, null, true, true, m.getRangeMatch().getStart(),
          m.getRangeMatch().getEnd(), inv);
      // Envoy: no specifier means "the header is present".
      case HEADERMATCHSPECIFIER_NOT_SET -> new HeaderMatch(name, null, true, false, 0, 0, inv);
    };
  }

  static HeaderMatch of(QueryParameterMatcher m, String field) {
    if (m.getName().isEmpty()) {
      throw new IllegalArgumentException(field + ".name: empty (expected: a parameter name)");
    }
    return switch (m.getQueryParameterMatchSpecifierCase()) {
      case STRING_MATCH -> new HeaderMatch(m.getName(),
          StringMatch.of(m.getStringMatch(), field + ".string_match"), true, false, 0, 0, false);
      case PRESENT_MATCH -> new HeaderMatch(m.getName(), null, m.getPresentMatch(), false, 0, 0,
          false);
      case QUERYPARAMETERMATCHSPECIFIER_NOT_SET ->
          new HeaderMatch(m.getName(), null, true, false, 0, 0, false);
    };
  }

  /** Applies to a header's (comma-joined) value, {@code null} when absent. */
  public boolean matches(String actual) {
    boolean result;
    if (value != null) {
      result = value.matches(actual);
    } else if (range) {
      result = inRange(actual);
    } else {
      result = (actual != null) == presentExpected;
    }
    return result != invert;
  }

  boolean matchesQuery(List<String> values) {
    if (values == null || values.isEmpty()) {
      return value == null && !presentExpected;
    }
    // Envoy compares the first value of a repeated parameter.
    return value == null ? presentExpected : value.matches(values.get(0));
  }

  private boolean inRange(String actual) {
    if (actual == null) {
      return false;
    }
    try {
      long v = Long.parseLong(actual.trim());
      return v >= rangeStart && v < rangeEnd;
    } catch (NumberFormatException e) {
      return false;
    }
  }
}
