package io.isthmus.proxy.internal.dns;

import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.SimpleChannelInboundHandler;
import io.netty.channel.socket.DatagramPacket;

/** The DNS port over UDP: each datagram one query, each answer one datagram back to its sender. */
final class UdpDnsHandler extends SimpleChannelInboundHandler<DatagramPacket> {

  private final DnsQueryProcessor processor;

  UdpDnsHandler(DnsQueryProcessor processor) {
    this.processor = processor;
  }

  @Override
  protected void channelRead0(ChannelHandlerContext ctx, DatagramPacket packet) {
    var sender = packet.sender();
    processor.handle(ctx, packet.content().retain(), true,
        answer -> ctx.writeAndFlush(new DatagramPacket(answer, sender)));
  }

  @Override
  public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
    // An ICMP error for one client (port unreachable) must not stop the port for the others.
    DnsServer.log.debug("DNS UDP error: {}", cause.toString());
  }
}
