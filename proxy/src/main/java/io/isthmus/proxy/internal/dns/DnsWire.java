package io.isthmus.proxy.internal.dns;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.handler.codec.CorruptedFrameException;
import io.netty.handler.codec.dns.DefaultDnsQuestion;
import io.netty.handler.codec.dns.DefaultDnsRawRecord;
import io.netty.handler.codec.dns.DnsQuestion;
import io.netty.handler.codec.dns.DnsRecordDecoder;
import io.netty.handler.codec.dns.DnsRecordEncoder;
import io.netty.handler.codec.dns.DnsRecordType;
import java.net.InetAddress;
import java.nio.charset.StandardCharsets;

/**
 * The few parts of the DNS wire format (RFC 1035) the proxy reads and writes: a query's header
 * and single question, and the responses it makes itself (table answers, SERVFAIL). Upstream
 * answers are never parsed: they are relayed as they came.
 */
final class DnsWire {

  static final int HEADER = 12;
  /** The largest UDP answer without EDNS (RFC 1035 4.2.1); longer ones are truncated (TC). */
  static final int UDP_LIMIT = 512;
  static final int RCODE_SERVFAIL = 2;

  private static final int QR = 0x8000;
  private static final int AA = 0x0400;
  private static final int TC = 0x0200;
  private static final int RD = 0x0100;
  private static final int RA = 0x0080;

  private DnsWire() {}

  /**
   * A parsed query. {@code question} is null for a well-formed message the proxy does not answer
   * itself (another opcode, not exactly one question): it is forwarded upstream as it is.
   */
  record Query(int id, int flags, DnsQuestion question) {

    int opcode() {
      return (flags >> 11) & 0xF;
    }
  }

  /**
   * Reads the header and question of {@code message} without moving its reader index.
   *
   * @throws CorruptedFrameException naming what is wrong: shorter than a header, a response
   *     instead of a query, or a question that does not parse
   */
  static Query parseQuery(ByteBuf message) {
    int start = message.readerIndex();
    if (message.readableBytes() < HEADER) {
      throw new CorruptedFrameException("DNS message of " + message.readableBytes()
          + " bytes (expected: at least the 12-byte header)");
    }
    int id = message.getUnsignedShort(start);
    int flags = message.getUnsignedShort(start + 2);
    int questions = message.getUnsignedShort(start + 4);
    if ((flags & QR) != 0) {
      throw new CorruptedFrameException("DNS message with QR=1 (expected: a query, not a response)");
    }
    int opcode = (flags >> 11) & 0xF;
    if (opcode != 0 || questions != 1) {
      return new Query(id, flags, null);
    }
    ByteBuf body = message.slice(start + HEADER, message.readableBytes() - HEADER);
    DnsQuestion question;
    try {
      question = DnsRecordDecoder.DEFAULT.decodeQuestion(body);
    } catch (Exception | Error e) {
      throw new CorruptedFrameException("DNS question does not parse (" + e
          + "; expected: a name, a type and a class)", e);
    }
    if (question.name().isEmpty()) {
      throw new CorruptedFrameException("DNS question with an empty name (expected: a host name)");
    }
    return new Query(id, flags, question);
  }

  /**
   * An authoritative answer to {@code query}: an optional CNAME from the question's name to
   * {@code answer.name()}, then one A or AAAA record per address (none: NODATA).
   *
   * @param udp whether it goes back over UDP, where more than 512 bytes set TC and carry no
   *     records, so the client asks again over TCP
   */
  static ByteBuf answer(ByteBufAllocator alloc, Query query, NameLookup.Answer answer, long ttl,
      boolean udp) {
    ByteBuf out = encodeAnswer(alloc, query, answer, ttl, false);
    if (udp && out.readableBytes() > UDP_LIMIT) {
      out.release();
      out = encodeAnswer(alloc, query, answer, ttl, true);
    }
    return out;
  }

  private static ByteBuf encodeAnswer(ByteBufAllocator alloc, Query query,
      NameLookup.Answer answer, long ttl, boolean truncated) {
    DnsQuestion question = query.question();
    int records = truncated ? 0 : answer.addresses().size() + (answer.cname().isPresent() ? 1 : 0);
    ByteBuf out = alloc.buffer();
    try {
      writeHeader(out, query.id(), QR | AA | RA | (query.flags() & RD) | (truncated ? TC : 0), 1,
          records);
      DnsRecordEncoder.DEFAULT.encodeQuestion(
          new DefaultDnsQuestion(question.name(), question.type(), question.dnsClass()), out);
      if (!truncated) {
        if (answer.cname().isPresent()) {
          ByteBuf target = encodeName(alloc, answer.cname().get());
          writeRecord(out, question.name(), DnsRecordType.CNAME, ttl, target);
        }
        for (InetAddress ip : answer.addresses()) {
          writeRecord(out, answer.name(), ip.getAddress().length == 4 ? DnsRecordType.A
              : DnsRecordType.AAAA, ttl, alloc.buffer(16).writeBytes(ip.getAddress()));
        }
      }
      return out;
    } catch (Exception e) {
      out.release();
      throw new IllegalStateException("cannot encode a DNS answer for " + question.name(), e);
    }
  }

  /** SERVFAIL for {@code query}, its question echoed when it had one. */
  static ByteBuf serverFailure(ByteBufAllocator alloc, Query query) {
    ByteBuf out = alloc.buffer();
    try {
      writeHeader(out, query.id(), QR | RA | (query.flags() & RD) | RCODE_SERVFAIL
          | (query.flags() & 0x7800), query.question() == null ? 0 : 1, 0);
      if (query.question() != null) {
        DnsRecordEncoder.DEFAULT.encodeQuestion(new DefaultDnsQuestion(query.question().name(),
            query.question().type(), query.question().dnsClass()), out);
      }
      return out;
    } catch (Exception e) {
      out.release();
      throw new IllegalStateException("cannot encode SERVFAIL", e);
    }
  }

  private static void writeHeader(ByteBuf out, int id, int flags, int questions, int answers) {
    out.writeShort(id);
    out.writeShort(flags);
    out.writeShort(questions);
    out.writeShort(answers);
    out.writeShort(0);
    out.writeShort(0);
  }

  private static void writeRecord(ByteBuf out, String name, DnsRecordType type, long ttl,
      ByteBuf rdata) throws Exception {
    DefaultDnsRawRecord record = new DefaultDnsRawRecord(name, type, ttl, rdata);
    try {
      DnsRecordEncoder.DEFAULT.encodeRecord(record, out);
    } finally {
      record.release();
    }
  }

  /** A name in wire form: length-prefixed labels, then the root's zero. */
  private static ByteBuf encodeName(ByteBufAllocator alloc, String name) {
    ByteBuf out = alloc.buffer();
    for (String label : name.split("\\.")) {
      if (label.isEmpty()) {
        continue;
      }
      byte[] bytes = label.getBytes(StandardCharsets.US_ASCII);
      out.writeByte(bytes.length);
      out.writeBytes(bytes);
    }
    out.writeByte(0);
    return out;
  }
}
