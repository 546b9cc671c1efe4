package io.isthmus.proxy;

import io.isthmus.proxy.testing.RawHttp;
import java.io.IOException;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/** Counters a sidecar exposes on its admin port ({@code /stats/prometheus}), read as tests need. */
final class SidecarMetrics {

  private static final Pattern ABANDONED = Pattern.compile(
      "isthmus_retry_or_shadow_abandoned_total\\{([^}]*)\\} (\\S+)");

  private SidecarMetrics() {}

  /**
   * The sum of {@code istio_request_bytes} for {@code destinationService} over every series
   * {@code sidecar} reports (both reporters when {@code reporter} is null).
   */
  static double requestBytes(Sidecar sidecar, String destinationService, String reporter)
      throws IOException {
    double sum = 0;
    for (String line : scrape(sidecar).split("\n")) {
      if (line.startsWith("istio_request_bytes_sum{")
          && line.contains("destination_service=\"" + destinationService + "\"")
          && (reporter == null || line.contains("reporter=\"" + reporter + "\""))) {
        sum += Double.parseDouble(line.substring(line.lastIndexOf(' ') + 1));
      }
    }
    return sum;
  }

  /**
   * {@code isthmus_retry_or_shadow_abandoned_total} of {@code side} ({@code inbound} or
   * {@code outbound}): bodies past the retry buffer that a retry or a shadow could not replay.
   */
  static double abandoned(Sidecar sidecar, String side) throws IOException {
    Matcher m = ABANDONED.matcher(scrape(sidecar));
    while (m.find()) {
      if (m.group(1).contains("side=\"" + side + "\"")) {
        return Double.parseDouble(m.group(2));
      }
    }
    return 0;
  }

  private static String scrape(Sidecar sidecar) throws IOException {
    return RawHttp.get(sidecar.adminAddress(), "admin", "/stats/prometheus").body();
  }
}
