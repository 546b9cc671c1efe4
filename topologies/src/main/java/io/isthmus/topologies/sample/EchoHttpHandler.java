package io.isthmus.topologies.sample;

import io.netty.buffer.Unpooled;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.SimpleChannelInboundHandler;
import io.netty.handler.codec.http.DefaultFullHttpResponse;
import io.netty.handler.codec.http.FullHttpRequest;
import io.netty.handler.codec.http.FullHttpResponse;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpHeaderValues;
import io.netty.handler.codec.http.HttpHeaders;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.HttpUtil;
import io.netty.handler.codec.http.HttpVersion;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;
import tools.jackson.databind.ObjectMapper;
import tools.jackson.databind.json.JsonMapper;

/** Answers a request with the echo JSON of docs/design/contracts.md. */
final class EchoHttpHandler extends SimpleChannelInboundHandler<FullHttpRequest> {

    private static final ObjectMapper JSON = JsonMapper.builder().build();

    private final EchoIdentity identity;
    private final String protocol;

    EchoHttpHandler(EchoIdentity identity, String protocol) {
        this.identity = identity;
        this.protocol = protocol;
    }

    @Override
    protected void channelRead0(ChannelHandlerContext ctx, FullHttpRequest request) {
        byte[] body = JSON.writeValueAsBytes(describe(request));
        FullHttpResponse response = new DefaultFullHttpResponse(HttpVersion.HTTP_1_1, HttpResponseStatus.OK,
                Unpooled.wrappedBuffer(body));
        response.headers()
                .set(HttpHeaderNames.CONTENT_TYPE, HttpHeaderValues.APPLICATION_JSON)
                .setInt(HttpHeaderNames.CONTENT_LENGTH, body.length);
        boolean keepAlive = HttpUtil.isKeepAlive(request);
        HttpUtil.setKeepAlive(response, keepAlive);
        var write = ctx.writeAndFlush(response);
        if (!keepAlive) {
            write.addListener(ChannelFutureListener.CLOSE);
        }
    }

    Map<String, Object> describe(FullHttpRequest request) {
        HttpHeaders h = request.headers();
        Map<String, Object> out = new LinkedHashMap<>();
        out.put("cluster", identity.cluster());
        out.put("version", identity.version());
        out.put("pod", identity.pod());
        out.put("namespace", identity.namespace());
        out.put("locality", identity.locality());
        out.put("protocol", protocol);
        out.put("method", request.method().name());
        out.put("path", request.uri());
        out.put("callerIdentity", callerIdentity(h.get("x-forwarded-client-cert")));
        out.put("forwardedFor", lastForwardedFor(h.get("x-forwarded-for")));
        Map<String, String> headers = new LinkedHashMap<>();
        for (String name : h.names()) {
            String lower = name.toLowerCase(Locale.ROOT);
            if (!lower.startsWith("x-http2-")) {
                headers.put(lower, String.join(",", h.getAll(name)));
            }
        }
        out.put("headers", headers);
        return out;
    }

    /** The {@code URI=} of the last (most recent) element of an XFCC header, or null. */
    static String callerIdentity(String xfcc) {
        if (xfcc == null || xfcc.isBlank()) {
            return null;
        }
        String last = xfcc.substring(lastUnquoted(xfcc, ',') + 1);
        for (String pair : splitUnquoted(last, ';')) {
            String p = pair.trim();
            if (p.regionMatches(true, 0, "URI=", 0, 4)) {
                String v = p.substring(4);
                return v.length() >= 2 && v.startsWith("\"") && v.endsWith("\"") ? v.substring(1, v.length() - 1) : v;
            }
        }
        return null;
    }

    static String lastForwardedFor(String xff) {
        if (xff == null || xff.isBlank()) {
            return null;
        }
        String last = xff.substring(xff.lastIndexOf(',') + 1).trim();
        return last.isEmpty() ? null : last;
    }

    private static int lastUnquoted(String s, char c) {
        boolean quoted = false;
        int found = -1;
        for (int i = 0; i < s.length(); i++) {
            char ch = s.charAt(i);
            if (ch == '"') {
                quoted = !quoted;
            } else if (ch == c && !quoted) {
                found = i;
            }
        }
        return found;
    }

    private static java.util.List<String> splitUnquoted(String s, char c) {
        java.util.List<String> parts = new java.util.ArrayList<>();
        boolean quoted = false;
        int start = 0;
        for (int i = 0; i < s.length(); i++) {
            char ch = s.charAt(i);
            if (ch == '"') {
                quoted = !quoted;
            } else if (ch == c && !quoted) {
                parts.add(s.substring(start, i));
                start = i + 1;
            }
        }
        parts.add(s.substring(start));
        return parts;
    }

    @Override
    public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
        ctx.close();
    }
}
