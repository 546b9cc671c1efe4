package io.isthmus.proxy.internal.dns;

import java.util.Locale;

/** DNS names in one canonical form: lower case, fully qualified (a trailing dot). */
final class DnsNames {

  private DnsNames() {}

  static String canonical(String name) {
    String lower = name.toLowerCase(Locale.ROOT);
    return lower.endsWith(".") ? lower : lower + ".";
  }
}
