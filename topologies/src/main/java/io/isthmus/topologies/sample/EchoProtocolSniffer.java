package io.isthmus.topologies.sample;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufUtil;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelPipeline;
import io.netty.handler.codec.ByteToMessageDecoder;
import io.netty.handler.codec.http.HttpObjectAggregator;
import io.netty.handler.codec.http.HttpServerCodec;
import io.netty.handler.codec.http.websocketx.WebSocketServerProtocolHandler;
import io.netty.handler.codec.http2.Http2CodecUtil;
import io.netty.handler.codec.http2.Http2FrameCodecBuilder;
import io.netty.handler.codec.http2.Http2MultiplexHandler;
import io.netty.handler.codec.http2.Http2StreamChannel;
import io.netty.handler.codec.http2.Http2StreamFrameToHttpObjectCodec;
import java.util.List;

/**
 * Decides from the first bytes whether the client speaks h2c with prior knowledge (the HTTP/2
 * connection preface) or HTTP/1.1, installs that pipeline and removes itself.
 */
final class EchoProtocolSniffer extends ByteToMessageDecoder {

    private static final int MAX_BODY = 1 << 20;

    private final EchoIdentity identity;

    EchoProtocolSniffer(EchoIdentity identity) {
        this.identity = identity;
    }

    @Override
    protected void decode(ChannelHandlerContext ctx, ByteBuf in, List<Object> out) {
        ByteBuf preface = Http2CodecUtil.connectionPrefaceBuf();
        try {
            int n = Math.min(in.readableBytes(), preface.readableBytes());
            boolean prefixMatches = ByteBufUtil.equals(in, in.readerIndex(), preface, 0, n);
            if (prefixMatches && n < preface.readableBytes()) {
                return; // could still be HTTP/2: wait for the whole preface
            }
            ChannelPipeline p = ctx.pipeline();
            if (prefixMatches) {
                p.addAfter(ctx.name(), "h2", Http2FrameCodecBuilder.forServer().build());
                p.addAfter("h2", "h2-mux", new Http2MultiplexHandler(new ChannelInitializer<Http2StreamChannel>() {
                    @Override
                    protected void initChannel(Http2StreamChannel ch) {
                        ch.pipeline().addLast(new Http2StreamFrameToHttpObjectCodec(true),
                                new HttpObjectAggregator(MAX_BODY),
                                new EchoHttpHandler(identity, "HTTP/2"));
                    }
                }));
            } else {
                p.addAfter(ctx.name(), "http1", new HttpServerCodec());
                p.addAfter("http1", "aggregator", new HttpObjectAggregator(MAX_BODY));
                p.addAfter("aggregator", "ws", new WebSocketServerProtocolHandler("/ws", null, true));
                p.addAfter("ws", "ws-echo", new WebSocketEchoHandler());
                p.addAfter("ws-echo", "echo", new EchoHttpHandler(identity, "HTTP/1.1"));
            }
            p.remove(this);
        } finally {
            preface.release();
        }
    }
}
