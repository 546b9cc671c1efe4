package io.isthmus.gateway;

import io.netty.buffer.ByteBuf;
import java.nio.charset.StandardCharsets;

/**
 * Reads the SNI host name out of a TLS ClientHello without consuming or decrypting
 * anything. Pure and bounded: at most {@link #MAX_HELLO_BYTES} are looked at.
 */
final class ClientHelloParser {

  /** Enough for any ClientHello, even with post-quantum key shares. */
  static final int MAX_HELLO_BYTES = 32 * 1024;

  private static final int RECORD_HEADER = 5;
  private static final int HANDSHAKE = 22;
  private static final int CLIENT_HELLO = 1;
  private static final int EXT_SERVER_NAME = 0;
  /** RFC 6066: a host_name is a DNS host name, at most 255 octets. */
  static final int MAX_SNI_BYTES = 255;

  /** The outcome of looking at the bytes received so far. */
  sealed interface Result {
    record NeedMore() implements Result {}

    record Found(String serverName) implements Result {}

    /** A rejection, with the reason used as the metric label. */
    record Rejected(String reason) implements Result {}
  }

  static final Result NEED_MORE = new Result.NeedMore();

  private ClientHelloParser() {}

  static Result parse(ByteBuf in) {
    int start = in.readerIndex();
    int available = in.readableBytes();
    if (available >= 1 && in.getUnsignedByte(start) != HANDSHAKE) {
      return new Result.Rejected("not_tls");
    }
    if (available >= 2 && in.getUnsignedByte(start + 1) != 3) {
      return new Result.Rejected("not_tls");
    }
    // Gather the handshake message, which may span several records.
    byte[] handshake = new byte[0];
    int offset = start;
    int handshakeLength = -1;
    while (true) {
      if (offset + RECORD_HEADER > start + available) {
        return tooLargeOr(available);
      }
      if (in.getUnsignedByte(offset) != HANDSHAKE || in.getUnsignedByte(offset + 1) != 3) {
        return new Result.Rejected(offset == start ? "not_tls" : "malformed");
      }
      int recordLength = in.getUnsignedShort(offset + 3);
      if (recordLength == 0 || recordLength > 16384 + 2048) {
        return new Result.Rejected("malformed");
      }
      if (offset + RECORD_HEADER + recordLength > start + available) {
        if (offset + RECORD_HEADER + recordLength - start > MAX_HELLO_BYTES) {
          return new Result.Rejected("too_large");
        }
        return NEED_MORE;
      }
      byte[] merged = new byte[handshake.length + recordLength];
      System.arraycopy(handshake, 0, merged, 0, handshake.length);
      in.getBytes(offset + RECORD_HEADER, merged, handshake.length, recordLength);
      handshake = merged;
      offset += RECORD_HEADER + recordLength;
      if (handshakeLength < 0 && handshake.length >= 4) {
        if ((handshake[0] & 0xff) != CLIENT_HELLO) {
          return new Result.Rejected("malformed");
        }
        handshakeLength = ((handshake[1] & 0xff) << 16) | ((handshake[2] & 0xff) << 8)
            | (handshake[3] & 0xff);
        if (handshakeLength + 4 > MAX_HELLO_BYTES) {
          return new Result.Rejected("too_large");
        }
      }
      if (handshakeLength >= 0 && handshake.length >= handshakeLength + 4) {
        return serverName(handshake, 4, handshakeLength + 4);
      }
      if (offset - start > MAX_HELLO_BYTES) {
        return new Result.Rejected("too_large");
      }
    }
  }

  private static Result tooLargeOr(int available) {
    return available > MAX_HELLO_BYTES ? new Result.Rejected("too_large") : NEED_MORE;
  }

  private static Result serverName(byte[] b, int pos, int end) {
    try {
      pos += 2 + 32; // client_version, random
      pos += 1 + u8(b, pos, end); // session_id
      pos += 2 + u16(b, pos, end); // cipher_suites
      pos += 1 + u8(b, pos, end); // compression_methods
      if (pos == end) {
        return new Result.Rejected("no_sni");
      }
      int extensionsEnd = pos + 2 + u16(b, pos, end);
      pos += 2;
      if (extensionsEnd > end) {
        return new Result.Rejected("malformed");
      }
      while (pos + 4 <= extensionsEnd) {
        int type = u16(b, pos, end);
        int length = u16(b, pos + 2, end);
        pos += 4;
        if (pos + length > extensionsEnd) {
          return new Result.Rejected("malformed");
        }
        if (type == EXT_SERVER_NAME) {
          int listEnd = pos + 2 + u16(b, pos, end);
          int p = pos + 2;
          while (p + 3 <= listEnd) {
            int nameType = u8(b, p, end);
            int nameLength = u16(b, p + 1, end);
            p += 3;
            if (p + nameLength > listEnd) {
              return new Result.Rejected("malformed");
            }
            if (nameType == 0 && nameLength > MAX_SNI_BYTES) {
              return new Result.Rejected("sni_too_long");
            }
            if (nameType == 0 && nameLength > 0) {
              return new Result.Found(
                  new String(b, p, nameLength, StandardCharsets.US_ASCII).toLowerCase());
            }
            p += nameLength;
          }
          return new Result.Rejected("no_sni");
        }
        pos += length;
      }
      return new Result.Rejected("no_sni");
    } catch (IndexOutOfBoundsException e) {
      return new Result.Rejected("malformed");
    }
  }

  private static int u8(byte[] b, int pos, int end) {
    if (pos + 1 > end) {
      throw new IndexOutOfBoundsException();
    }
    return b[pos] & 0xff;
  }

  private static int u16(byte[] b, int pos, int end) {
    if (pos + 2 > end) {
      throw new IndexOutOfBoundsException();
    }
    return ((b[pos] & 0xff) << 8) | (b[pos + 1] & 0xff);
  }
}
