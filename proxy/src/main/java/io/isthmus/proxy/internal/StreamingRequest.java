package io.isthmus.proxy.internal;

import static java.util.Objects.requireNonNull;

import io.netty.handler.codec.http.DefaultHttpRequest;
import io.netty.handler.codec.http.HttpRequest;
import io.netty.util.IllegalReferenceCountException;
import io.netty.util.ReferenceCounted;

/**
 * The head of a request whose body streams ({@link RequestBody}) instead of being aggregated:
 * what the filters and the routing handler receive for an HTTP/2 stream that did not end with
 * its HEADERS frame. They look at its method, URI and headers exactly as at an aggregated
 * request's; its body follows on its own, read only as fast as the upstream takes it.
 *
 * <p>Reference counted so that whoever holds it owns the body, as whoever holds a
 * {@code FullHttpRequest} owns its content: the last {@link #release()} releases what the body
 * buffered and drops what still arrives (a filter that refuses the request, the relay when the
 * exchange is over, Netty's tail for a message nobody handled). Event-loop confined.
 */
final class StreamingRequest extends DefaultHttpRequest implements ReferenceCounted {

  private final RequestBody body;
  private int refCnt = 1;

  StreamingRequest(HttpRequest head, RequestBody body) {
    super(head.protocolVersion(), head.method(), head.uri(), head.headers());
    this.body = requireNonNull(body, "body");
  }

  RequestBody body() {
    return body;
  }

  @Override
  public int refCnt() {
    return refCnt;
  }

  @Override
  public StreamingRequest retain() {
    return retain(1);
  }

  @Override
  public StreamingRequest retain(int increment) {
    if (refCnt <= 0) {
      throw new IllegalReferenceCountException(refCnt, increment);
    }
    refCnt += increment;
    return this;
  }

  @Override
  public StreamingRequest touch() {
    return this;
  }

  @Override
  public StreamingRequest touch(Object hint) {
    return this;
  }

  @Override
  public boolean release() {
    return release(1);
  }

  @Override
  public boolean release(int decrement) {
    if (refCnt < decrement) {
      throw new IllegalReferenceCountException(refCnt, -decrement);
    }
    refCnt -= decrement;
    if (refCnt == 0) {
      body.release();
      return true;
    }
    return false;
  }
}
