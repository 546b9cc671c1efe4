package io.isthmus.proxy.internal.dns;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufUtil;
import io.netty.buffer.Unpooled;
import io.netty.channel.embedded.EmbeddedChannel;
import io.netty.channel.socket.DatagramPacket;
import io.netty.handler.codec.dns.DatagramDnsQuery;
import io.netty.handler.codec.dns.DatagramDnsQueryEncoder;
import io.netty.handler.codec.dns.DatagramDnsResponseDecoder;
import io.netty.handler.codec.dns.DefaultDnsQuestion;
import io.netty.handler.codec.dns.DnsRecordType;
import io.netty.handler.codec.dns.DnsResponse;
import io.netty.handler.codec.dns.DnsSection;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.net.DatagramSocket;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.SocketTimeoutException;

/**
 * A blocking stub resolver for tests: encodes a query with Netty's DNS codec, sends it over a
 * real UDP or TCP socket, and returns the raw answer (or null when none came within 3 s).
 */
final class DnsTestClient {

  private static final InetSocketAddress ANY = new InetSocketAddress("127.0.0.1", 0);

  private DnsTestClient() {}

  static byte[] query(int id, String name, DnsRecordType type) {
    EmbeddedChannel encoder = new EmbeddedChannel(new DatagramDnsQueryEncoder());
    DatagramDnsQuery query = new DatagramDnsQuery(ANY, ANY, id);
    query.setRecursionDesired(true);
    query.addRecord(DnsSection.QUESTION, new DefaultDnsQuestion(name, type));
    encoder.writeOutbound(query);
    DatagramPacket packet = encoder.readOutbound();
    byte[] bytes = ByteBufUtil.getBytes(packet.content());
    packet.release();
    encoder.finishAndReleaseAll();
    return bytes;
  }

  static byte[] udp(InetSocketAddress server, byte[] message) throws IOException {
    return udp(server, message, 10_000);
  }

  /** As {@link #udp(InetSocketAddress, byte[])}, waiting {@code timeoutMillis} for the answer. */
  static byte[] udp(InetSocketAddress server, byte[] message, int timeoutMillis) throws IOException {
    try (DatagramSocket socket = new DatagramSocket(0, java.net.InetAddress.getLoopbackAddress())) {
      socket.setSoTimeout(timeoutMillis);
      socket.send(new java.net.DatagramPacket(message, message.length, server));
      java.net.DatagramPacket in = new java.net.DatagramPacket(new byte[4096], 4096);
      try {
        socket.receive(in);
      } catch (SocketTimeoutException e) {
        return null;
      }
      return java.util.Arrays.copyOf(in.getData(), in.getLength());
    }
  }

  static byte[] tcp(InetSocketAddress server, byte[] message) throws IOException {
    try (Socket socket = new Socket()) {
      socket.connect(server, 10_000);
      socket.setSoTimeout(10_000);
      DataOutputStream out = new DataOutputStream(socket.getOutputStream());
      out.writeShort(message.length);
      out.write(message);
      out.flush();
      DataInputStream in = new DataInputStream(socket.getInputStream());
      byte[] answer = new byte[in.readUnsignedShort()];
      in.readFully(answer);
      return answer;
    }
  }

  /** The answer decoded; the caller releases it. */
  static DnsResponse decode(byte[] answer) {
    EmbeddedChannel decoder = new EmbeddedChannel(new DatagramDnsResponseDecoder());
    decoder.writeInbound(new DatagramPacket(Unpooled.wrappedBuffer(answer), ANY, ANY));
    DnsResponse response = decoder.readInbound();
    decoder.finish();
    return response;
  }

  static String hex(byte[] bytes) {
    return ByteBufUtil.hexDump(bytes);
  }

  static ByteBuf wrap(byte[] bytes) {
    return Unpooled.wrappedBuffer(bytes);
  }
}
