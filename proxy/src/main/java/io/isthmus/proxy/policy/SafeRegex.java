package io.isthmus.proxy.policy;

import static java.util.Objects.requireNonNull;

import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.regex.PatternSyntaxException;

/**
 * Envoy's {@code safe_regex} (RE2 syntax) on {@link java.util.regex}: RE2 guarantees linear
 * time, the JDK does not, so a regex is accepted only within a size bound and without the
 * constructs RE2 lacks (backreferences, lookaround, atomic groups, possessive quantifiers),
 * and each match runs on a step budget; a match that exhausts it counts as no match.
 *
 * <p>Immutable and thread-safe.
 */
public final class SafeRegex {

  /** Longest regex accepted; Envoy bounds RE2 program size, we bound the source. */
  public static final int MAX_LENGTH = 1024;
  /** RE2 refuses repetition counts above 1000. */
  static final int MAX_REPEAT = 1000;
  private static final Pattern UNSUPPORTED = Pattern.compile(
      "\\\\[1-9]|\\\\k<|\\(\\?=|\\(\\?!|\\(\\?<=|\\(\\?<!|\\(\\?>|[*+?}]\\+");
  private static final Pattern REPEAT = Pattern.compile("\\{(\\d+)(?:,(\\d*))?}");

  private final Pattern pattern;

  private SafeRegex(Pattern pattern) {
    this.pattern = pattern;
  }

  /**
   * Compiles {@code regex}, or throws {@link IllegalArgumentException} naming {@code field}.
   */
  public static SafeRegex compile(String regex, String field) {
    requireNonNull(regex, "regex");
    requireNonNull(field, "field");
    if (regex.length() > MAX_LENGTH) {
      throw new IllegalArgumentException(field + ": regex of " + regex.length()
          + " characters is too large (expected: at most " + MAX_LENGTH + ")");
    }
    Matcher unsupported = UNSUPPORTED.matcher(regex);
    if (unsupported.find()) {
      throw new IllegalArgumentException(field + ": regex " + quote(regex) + " uses '"
          + unsupported.group() + "', which RE2 does not support");
    }
    Matcher repeat = REPEAT.matcher(regex);
    while (repeat.find()) {
      for (int g = 1; g <= 2; g++) {
        String n = repeat.group(g);
        if (n != null && !n.isEmpty()
            && (n.length() > 4 || Integer.parseInt(n) > MAX_REPEAT)) {
          throw new IllegalArgumentException(field + ": regex " + quote(regex)
              + " repeats " + n + " times (expected: at most " + MAX_REPEAT + ")");
        }
      }
    }
    try {
      return new SafeRegex(Pattern.compile(regex));
    } catch (PatternSyntaxException e) {
      throw new IllegalArgumentException(field + ": regex " + quote(regex) + " is invalid: "
          + e.getDescription(), e);
    }
  }

  /** Whether the whole of {@code input} matches. */
  public boolean matches(CharSequence input) {
    try {
      return pattern.matcher(new Budgeted(input)).matches();
    } catch (BudgetExceeded e) {
      return false;
    }
  }

  /** {@code input} with every match replaced ({@code \1} style groups as in Envoy). */
  public String replaceAll(String input, String substitution) {
    try {
      return pattern.matcher(new Budgeted(input)).replaceAll(javaReplacement(substitution));
    } catch (BudgetExceeded e) {
      return input;
    }
  }

  public String pattern() {
    return pattern.pattern();
  }

  /** Envoy substitutions use {@code \1}; Java uses {@code $1} and treats {@code $} as special. */
  static String javaReplacement(String substitution) {
    StringBuilder out = new StringBuilder();
    for (int i = 0; i < substitution.length(); i++) {
      char c = substitution.charAt(i);
      if (c == '\\' && i + 1 < substitution.length()
          && Character.isDigit(substitution.charAt(i + 1))) {
        out.append('$').append(substitution.charAt(++i));
      } else if (c == '$' || c == '\\') {
        out.append('\\').append(c);
      } else {
        out.append(c);
      }
    }
    return out.toString();
  }

  private static String quote(String regex) {
    return "'" + (regex.length() > 80 ? regex.substring(0, 80) + "..." : regex) + "'";
  }

  @Override
  public String toString() {
    return pattern.pattern();
  }

  private static final class BudgetExceeded extends RuntimeException {
    BudgetExceeded() {
      super(null, null, false, false);
    }
  }

  /** Counts character reads: backtracking shows up as many reads of the same input. */
  private static final class Budgeted implements CharSequence {
    private final CharSequence input;
    private final int[] left;

    Budgeted(CharSequence input) {
      this(input, new int[] {100_000 + 200 * input.length()});
    }

    private Budgeted(CharSequence input, int[] left) {
      this.input = input;
      this.left = left;
    }

    @Override
    public int length() {
      return input.length();
    }

    @Override
    public char charAt(int index) {
      if (--left[0] < 0) {
        throw new BudgetExceeded();
      }
      return input.charAt(index);
    }

    @Override
    public CharSequence subSequence(int start, int end) {
      return new Budgeted(input.subSequence(start, end), left);
    }

    @Override
    public String toString() {
      return input.toString();
    }
  }
}
