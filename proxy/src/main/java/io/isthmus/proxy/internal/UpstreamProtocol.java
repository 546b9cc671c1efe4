package io.isthmus.proxy.internal;

/**
 * The HTTP version toward an upstream. {@link #DOWNSTREAM} is Envoy's
 * {@code use_downstream_protocol_config}: an HTTP/2 request goes out as HTTP/2 (which gRPC
 * needs for its trailers), an HTTP/1.1 one as HTTP/1.1. The relay resolves it per request.
 */
enum UpstreamProtocol {
  HTTP1,
  HTTP2,
  DOWNSTREAM
}
