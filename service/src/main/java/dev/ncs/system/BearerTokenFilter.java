package dev.ncs.system;

import jakarta.servlet.FilterChain;
import jakarta.servlet.ServletException;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.util.List;
import org.springframework.http.HttpHeaders;
import org.springframework.http.MediaType;
import org.springframework.stereotype.Component;
import org.springframework.web.filter.OncePerRequestFilter;

/**
 * Optional bearer-token authentication of the inference API. With {@code ncs.security.tokens} set,
 * every /v2/** request except /v2/health/** (probes) needs {@code Authorization: Bearer <token>};
 * otherwise 401. Tokens are compared in constant time, against every configured token, and never logged.
 */
@Component
class BearerTokenFilter extends OncePerRequestFilter {

    private static final String PREFIX = "Bearer ";

    private final List<byte[]> tokens;

    BearerTokenFilter(SecurityProperties properties) {
        this.tokens = properties.tokens().stream().filter(t -> !t.isBlank())
                .map(t -> t.getBytes(StandardCharsets.UTF_8)).toList();
    }

    @Override
    protected boolean shouldNotFilter(HttpServletRequest request) {
        String path = request.getRequestURI();
        return tokens.isEmpty() || !path.startsWith("/v2") || path.startsWith("/v2/health/");
    }

    @Override
    protected void doFilterInternal(HttpServletRequest request, HttpServletResponse response, FilterChain chain)
            throws ServletException, IOException {
        String header = request.getHeader(HttpHeaders.AUTHORIZATION);
        if (header != null && header.startsWith(PREFIX) && accepted(header.substring(PREFIX.length()).trim())) {
            chain.doFilter(request, response);
            return;
        }
        response.setStatus(HttpServletResponse.SC_UNAUTHORIZED);
        response.setHeader(HttpHeaders.WWW_AUTHENTICATE, "Bearer");
        response.setContentType(MediaType.APPLICATION_JSON_VALUE);
        response.getOutputStream().write(("{\"error\":\"" + (header == null
                ? "this API needs an Authorization: Bearer <token> header"
                : "the bearer token was not accepted") + "\"}").getBytes(StandardCharsets.UTF_8));
    }

    /** Compares with every token, without stopping early, so timing says nothing about which matched. */
    private boolean accepted(String presented) {
        byte[] candidate = presented.getBytes(StandardCharsets.UTF_8);
        boolean match = false;
        for (byte[] token : tokens) {
            match |= MessageDigest.isEqual(candidate, token);
        }
        return match;
    }
}
