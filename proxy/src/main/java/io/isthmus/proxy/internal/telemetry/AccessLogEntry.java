package io.isthmus.proxy.internal.telemetry;

import static java.util.Objects.requireNonNull;

import java.time.Instant;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;
import java.util.LinkedHashMap;
import java.util.Map;
import tools.jackson.databind.ObjectMapper;
import tools.jackson.databind.json.JsonMapper;

/**
 * One request as Istio's sidecar access log prints it. Unknown values are {@code null} and
 * print as {@code -} (text) or JSON {@code null}, as Envoy does.
 */
public record AccessLogEntry(
    Instant startTime,
    String method,
    String path,
    String protocol,
    int responseCode,
    String responseFlags,
    String responseCodeDetails,
    long bytesReceived,
    long bytesSent,
    long durationMillis,
    String forwardedFor,
    String userAgent,
    String requestId,
    String authority,
    String upstreamHost,
    String upstreamCluster,
    String upstreamLocalAddress,
    String downstreamLocalAddress,
    String downstreamRemoteAddress,
    String requestedServerName,
    String routeName,
    String traceId,
    String upstreamTransportFailureReason) {

  private static final DateTimeFormatter START =
      DateTimeFormatter.ofPattern("yyyy-MM-dd'T'HH:mm:ss.SSS'Z'").withZone(ZoneOffset.UTC);
  private static final ObjectMapper JSON = JsonMapper.builder().build();

  public AccessLogEntry {
    requireNonNull(startTime, "startTime");
    responseFlags = responseFlags == null || responseFlags.isEmpty() ? "-" : responseFlags;
  }

  /** Without an upstream transport failure reason. */
  public AccessLogEntry(Instant startTime, String method, String path, String protocol,
      int responseCode, String responseFlags, String responseCodeDetails, long bytesReceived,
      long bytesSent, long durationMillis, String forwardedFor, String userAgent,
      String requestId, String authority, String upstreamHost, String upstreamCluster,
      String upstreamLocalAddress, String downstreamLocalAddress,
      String downstreamRemoteAddress, String requestedServerName, String routeName,
      String traceId) {
    this(startTime, method, path, protocol, responseCode, responseFlags, responseCodeDetails,
        bytesReceived, bytesSent, durationMillis, forwardedFor, userAgent, requestId, authority,
        upstreamHost, upstreamCluster, upstreamLocalAddress, downstreamLocalAddress,
        downstreamRemoteAddress, requestedServerName, routeName, traceId, null);
  }

  /**
   * Istio's default text format (Envoy's default plus the upstream cluster and addresses):
   * <pre>[%START_TIME%] "%REQ(:METHOD)% %REQ(X-ENVOY-ORIGINAL-PATH?:PATH)% %PROTOCOL%"
   * %RESPONSE_CODE% %RESPONSE_FLAGS% %RESPONSE_CODE_DETAILS% %CONNECTION_TERMINATION_DETAILS%
   * "%UPSTREAM_TRANSPORT_FAILURE_REASON%" %BYTES_RECEIVED% %BYTES_SENT% %DURATION%
   * %RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)% "%REQ(X-FORWARDED-FOR)%" "%REQ(USER-AGENT)%"
   * "%REQ(X-REQUEST-ID)%" "%REQ(:AUTHORITY)%" "%UPSTREAM_HOST%" %UPSTREAM_CLUSTER%
   * %UPSTREAM_LOCAL_ADDRESS% %DOWNSTREAM_LOCAL_ADDRESS% %DOWNSTREAM_REMOTE_ADDRESS%
   * %REQUESTED_SERVER_NAME% %ROUTE_NAME%</pre>
   */
  public String text() {
    return "[" + START.format(startTime) + "] \"" + dash(method) + " " + dash(path) + " "
        + dash(protocol) + "\" " + responseCode + " " + responseFlags + " "
        + dash(responseCodeDetails) + " - \"" + dash(upstreamTransportFailureReason) + "\" "
        + bytesReceived + " " + bytesSent + " "
        + durationMillis + " - \"" + dash(forwardedFor) + "\" \"" + dash(userAgent) + "\" \""
        + dash(requestId) + "\" \"" + dash(authority) + "\" \"" + dash(upstreamHost) + "\" "
        + dash(upstreamCluster) + " " + dash(upstreamLocalAddress) + " "
        + dash(downstreamLocalAddress) + " " + dash(downstreamRemoteAddress) + " "
        + dash(requestedServerName) + " " + dash(routeName);
  }

  /** Istio's JSON access log keys ({@code meshConfig.accessLogEncoding: JSON}), one object. */
  public String json() {
    Map<String, Object> m = new LinkedHashMap<>();
    m.put("start_time", START.format(startTime));
    m.put("method", method);
    m.put("path", path);
    m.put("protocol", protocol);
    m.put("response_code", responseCode);
    m.put("response_flags", responseFlags);
    m.put("response_code_details", responseCodeDetails);
    m.put("connection_termination_details", null);
    m.put("upstream_transport_failure_reason", upstreamTransportFailureReason);
    m.put("bytes_received", bytesReceived);
    m.put("bytes_sent", bytesSent);
    m.put("duration", durationMillis);
    m.put("upstream_service_time", null);
    m.put("x_forwarded_for", forwardedFor);
    m.put("user_agent", userAgent);
    m.put("request_id", requestId);
    m.put("authority", authority);
    m.put("upstream_host", upstreamHost);
    m.put("upstream_cluster", upstreamCluster);
    m.put("upstream_local_address", upstreamLocalAddress);
    m.put("downstream_local_address", downstreamLocalAddress);
    m.put("downstream_remote_address", downstreamRemoteAddress);
    m.put("requested_server_name", requestedServerName);
    m.put("route_name", routeName);
    m.put("trace_id", traceId);
    return JSON.writeValueAsString(m);
  }

  private static String dash(String s) {
    return s == null || s.isEmpty() ? "-" : s;
  }
}
