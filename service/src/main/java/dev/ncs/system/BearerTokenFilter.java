package dev.ncs.system;

import jakarta.servlet.FilterChain;
import jakarta.servlet.ServletException;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import org.springframework.http.HttpHeaders;
import org.springframework.http.MediaType;
import org.springframework.stereotype.Component;
import org.springframework.web.filter.OncePerRequestFilter;

/**
 * Optional bearer-token authentication of the inference API. With {@code ncs.security.tokens} set,
 * every /v2/** request except /v2/health/** (probes) needs {@code Authorization: Bearer <token>};
 * otherwise 401. Tokens are compared in constant time, against every configured token, and never
 * logged.
 */
@Component
class BearerTokenFilter extends OncePerRequestFilter {

    private final BearerTokens tokens;

    BearerTokenFilter(SecurityProperties properties) {
        this.tokens = new BearerTokens(properties);
    }

    @Override
    protected boolean shouldNotFilter(HttpServletRequest request) {
        String path = request.getRequestURI();
        return !tokens.required() || !path.startsWith("/v2") || path.startsWith("/v2/health/");
    }

    @Override
    protected void doFilterInternal(
            HttpServletRequest request, HttpServletResponse response, FilterChain chain)
            throws ServletException, IOException {
        String refusal = tokens.refusal(request.getHeader(HttpHeaders.AUTHORIZATION));
        if (refusal == null) {
            chain.doFilter(request, response);
            return;
        }
        response.setStatus(HttpServletResponse.SC_UNAUTHORIZED);
        response.setHeader(HttpHeaders.WWW_AUTHENTICATE, "Bearer");
        response.setContentType(MediaType.APPLICATION_JSON_VALUE);
        response.getOutputStream()
                .write(("{\"error\":\"" + refusal + "\"}").getBytes(StandardCharsets.UTF_8));
    }
}
