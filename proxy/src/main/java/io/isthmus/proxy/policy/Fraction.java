package io.isthmus.proxy.policy;

import io.envoyproxy.envoy.type.v3.FractionalPercent;
import java.util.random.RandomGenerator;

/** Envoy's {@code FractionalPercent}: {@code numerator} out of {@code denominator}. */
public record Fraction(long numerator, long denominator) {

  public static final Fraction ALL = new Fraction(100, 100);

  public Fraction {
    if (denominator <= 0) {
      throw new IllegalArgumentException("denominator: " + denominator + " (expected: > 0)");
    }
    if (numerator < 0) {
      throw new IllegalArgumentException("numerator: " + numerator + " (expected: >= 0)");
    }
  }

  static Fraction of(FractionalPercent percent) {
    long denominator = switch (percent.getDenominator()) {
      case HUNDRED -> 100;
      case TEN_THOUSAND -> 10_000;
      case MILLION -> 1_000_000;
      case UNRECOGNIZED -> throw new IllegalArgumentException(
          "denominator: " + percent.getDenominatorValue()
              + " (expected: HUNDRED, TEN_THOUSAND or MILLION)");
    };
    // Envoy clamps a numerator above the denominator to 100%.
    return new Fraction(Math.min(percent.getNumerator() & 0xffffffffL, denominator), denominator);
  }

  /** One draw: true with probability numerator/denominator. */
  public boolean roll(RandomGenerator random) {
    if (numerator >= denominator) {
      return true;
    }
    return numerator > 0 && random.nextLong(denominator) < numerator;
  }
}
