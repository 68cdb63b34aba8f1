package dev.ncs.system;

import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.util.List;

/**
 * The API's bearer tokens ({@code ncs.security.tokens}), checked the same way for every protocol:
 * an {@code Authorization: Bearer <token>} value (HTTP header or gRPC metadata) compared in
 * constant time with every configured token. Tokens are never logged.
 */
public final class BearerTokens {

    private static final String PREFIX = "Bearer ";

    private final List<byte[]> tokens;

    public BearerTokens(SecurityProperties properties) {
        this.tokens =
                properties.tokens().stream()
                        .filter(t -> !t.isBlank())
                        .map(t -> t.getBytes(StandardCharsets.UTF_8))
                        .toList();
    }

    /** Whether any token is configured (otherwise the API is open). */
    public boolean required() {
        return !tokens.isEmpty();
    }

    /**
     * Why {@code authorization} (the header's value, null when absent) is refused, or null when it
     * carries an accepted token.
     */
    public String refusal(String authorization) {
        if (authorization == null) {
            return "this API needs an Authorization: Bearer <token> header";
        }
        if (authorization.startsWith(PREFIX)
                && accepted(authorization.substring(PREFIX.length()).trim())) {
            return null;
        }
        return "the bearer token was not accepted";
    }

    /**
     * Compares with every token, without stopping early, so timing says nothing about which
     * matched.
     */
    private boolean accepted(String presented) {
        byte[] candidate = presented.getBytes(StandardCharsets.UTF_8);
        boolean match = false;
        for (byte[] token : tokens) {
            match |= MessageDigest.isEqual(candidate, token);
        }
        return match;
    }
}
