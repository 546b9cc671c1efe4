package io.isthmus.proxy.internal;

import io.netty.util.ResourceLeakDetector;

/**
 * What a data-plane process (sidecar, east-west gateway) sets for itself at start, before it
 * serves, so every way of launching it (the launcher, {@code meshctl up}, the container image,
 * the bench) runs the same production process without repeating flags. Public for the process
 * mains only; not an API.
 */
public final class ProcessDefaults {

  /** Netty's leak-detection properties; any of them set means the launcher chose a level. */
  private static final String[] LEAK_PROPERTIES = {
      "io.netty.leakDetection.level", "io.netty.leakDetectionLevel", "io.netty.noResourceLeakDetection"};

  private ProcessDefaults() {}

  /**
   * Refuses an unknown transport ({@link Transports#requireValidSelection()}) and turns Netty's
   * leak detection off unless a system property asks for a level: its default ({@code simple})
   * records a stack trace for one buffer in 128, about 1.6 % of a busy sidecar's CPU, to report
   * leaks nobody reads in production. Tests run with
   * {@code -Dio.netty.leakDetection.level=PARANOID} (the build's surefire argLine), which this
   * leaves alone; so does an operator's {@code -Dio.netty.leakDetection.level=simple} when
   * chasing a leak.
   *
   * @throws IllegalArgumentException for an unknown {@code -Disthmus.transport}
   */
  public static void apply() {
    Transports.requireValidSelection();
    if (leakLevelUnset()) {
      ResourceLeakDetector.setLevel(ResourceLeakDetector.Level.DISABLED);
    }
  }

  static boolean leakLevelUnset() {
    for (String p : LEAK_PROPERTIES) {
      if (System.getProperty(p) != null) {
        return false;
      }
    }
    return true;
  }
}
