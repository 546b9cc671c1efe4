package io.isthmus.proxy.internal.dns;

import static java.util.Objects.requireNonNull;

import io.netty.buffer.ByteBuf;
import io.netty.channel.ChannelHandlerContext;
import io.netty.handler.codec.CorruptedFrameException;
import java.util.function.Consumer;

/**
 * What happens to one query, whatever it came over: answered from the name table when it asks A
 * or AAAA of a mesh name, else forwarded upstream; a message that is not a query is counted and
 * dropped (no answer, as a resolver does with garbage). Shared by the UDP and TCP handlers.
 */
final class DnsQueryProcessor {

  /** istio-agent's TTL for the answers it makes: short, so a changed VIP is seen soon. */
  static final long TTL_SECONDS = 30;

  private final DnsForwarder forwarder;
  private final DnsMetrics metrics;
  private volatile NameLookup lookup = NameLookup.EMPTY;

  DnsQueryProcessor(DnsForwarder forwarder, DnsMetrics metrics) {
    this.forwarder = requireNonNull(forwarder, "forwarder");
    this.metrics = requireNonNull(metrics, "metrics");
  }

  void update(NameLookup next) {
    lookup = requireNonNull(next, "next");
  }

  void malformed(String protocol) {
    metrics.malformed(protocol);
  }

  NameLookup lookup() {
    return lookup;
  }

  /**
   * Handles {@code message} (owned by this call) and calls {@code reply} at most once with the
   * answer (owned by the callee); never for a dropped message.
   */
  void handle(ChannelHandlerContext ctx, ByteBuf message, boolean udp, Consumer<ByteBuf> reply) {
    DnsWire.Query query;
    try {
      query = DnsWire.parseQuery(message);
    } catch (CorruptedFrameException e) {
      metrics.malformed(udp ? "udp" : "tcp");
      DnsServer.log.debug("dropped a malformed DNS message from {}: {}",
          ctx.channel().remoteAddress(), e.getMessage());
      message.release();
      return;
    }
    metrics.requests.increment();
    if (query.question() != null
        && lookup.lookup(query.question().name(), query.question().type().intValue())
            instanceof NameLookup.Answer answer) {
      message.release();
      metrics.tableAnswers.increment();
      reply.accept(DnsWire.answer(ctx.alloc(), query, answer, TTL_SECONDS, udp));
      return;
    }
    forwarder.forward(ctx.channel().eventLoop(), message, query, !udp, reply);
  }
}
