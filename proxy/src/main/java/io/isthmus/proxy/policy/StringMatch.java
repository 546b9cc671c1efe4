package io.isthmus.proxy.policy;

import static java.util.Objects.requireNonNull;

import io.envoyproxy.envoy.type.matcher.v3.StringMatcher;
import java.util.Locale;

/** Envoy's {@code StringMatcher}, compiled. Immutable. */
public record StringMatch(Kind kind, String value, SafeRegex regex, boolean ignoreCase) {

  public enum Kind { EXACT, PREFIX, SUFFIX, CONTAINS, REGEX }

  public StringMatch {
    requireNonNull(kind, "kind");
    requireNonNull(value, "value");
    if (kind == Kind.REGEX) {
      requireNonNull(regex, "regex");
    }
    if (ignoreCase) {
      value = value.toLowerCase(Locale.ROOT);
    }
  }

  public static StringMatch exact(String value) {
    return new StringMatch(Kind.EXACT, value, null, false);
  }

  static StringMatch of(StringMatcher matcher, String field) {
    boolean ic = matcher.getIgnoreCase();
    return switch (matcher.getMatchPatternCase()) {
      case EXACT -> new StringMatch(Kind.EXACT, matcher.getExact(), null, ic);
      case PREFIX -> new StringMatch(Kind.PREFIX, matcher.getPrefix(), null, ic);
      case SUFFIX -> new StringMatch(Kind.SUFFIX, matcher.getSuffix(), null, ic);
      case CONTAINS -> new StringMatch(Kind.CONTAINS, matcher.getContains(), null, ic);
      case SAFE_REGEX -> new StringMatch(Kind.REGEX, matcher.getSafeRegex().getRegex(),
          SafeRegex.compile(matcher.getSafeRegex().getRegex(), field + ".safe_regex"), false);
      default -> throw new IllegalArgumentException(field + ": match pattern "
          + matcher.getMatchPatternCase() + " (expected: exact, prefix, suffix, contains or"
          + " safe_regex)");
    };
  }

  public boolean matches(String input) {
    if (input == null) {
      return false;
    }
    String in = ignoreCase ? input.toLowerCase(Locale.ROOT) : input;
    return switch (kind) {
      case EXACT -> in.equals(value);
      case PREFIX -> in.startsWith(value);
      case SUFFIX -> in.endsWith(value);
      case CONTAINS -> in.contains(value);
      case REGEX -> regex.matches(in);
    };
  }
}
