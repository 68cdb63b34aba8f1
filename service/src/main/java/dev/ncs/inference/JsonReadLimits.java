package dev.ncs.inference;

import tools.jackson.core.StreamReadConstraints;
import tools.jackson.core.exc.StreamConstraintsException;

/**
 * The {@code ncs.limits.*} that the JSON parser enforces while it reads (nesting depth, string,
 * number and key lengths), so a hostile document is refused before it is built into a tree.
 * Jackson's checks, with NCS's properties named in the refusal: a violation surfaces from the
 * parser as {@link Exceeded}, whose {@link Exceeded#limit()} is the exception to answer with.
 */
final class JsonReadLimits extends StreamReadConstraints {

    private static final long serialVersionUID = 1L;

    JsonReadLimits(LimitsProperties limits) {
        super(
                limits.maxJsonDepth(),
                DEFAULT_MAX_DOC_LEN,
                DEFAULT_MAX_TOKEN_COUNT,
                limits.maxNumberLength(),
                limits.maxStringLength(),
                limits.maxNameLength());
    }

    /** A limit the parser hit; it travels through Jackson as one of its own exceptions. */
    static final class Exceeded extends StreamConstraintsException {

        private static final long serialVersionUID = 1L;
        private final transient LimitExceededException limit;

        Exceeded(LimitExceededException limit) {
            super(limit.getMessage());
            this.limit = limit;
        }

        LimitExceededException limit() {
            return limit;
        }
    }

    @Override
    public void validateNestingDepth(int depth) {
        if (depth > _maxNestingDepth) {
            throw new Exceeded(
                    LimitExceededException.shape(
                            "the JSON nesting depth (arrays and objects inside each other)",
                            "at least " + depth,
                            "max-json-depth",
                            _maxNestingDepth));
        }
    }

    @Override
    public void validateStringLength(int length) {
        validateStringLengthLong(length);
    }

    @Override
    public void validateStringLengthLong(long length) {
        if (length > _maxStringLen) {
            throw new Exceeded(
                    LimitExceededException.size(
                            "a JSON string",
                            "at least " + length + " characters long",
                            "max-string-length",
                            _maxStringLen));
        }
    }

    @Override
    public void validateNameLength(int length) {
        if (length > _maxNameLen) {
            throw new Exceeded(
                    LimitExceededException.shape(
                            "a JSON object key (such as a parameter name)",
                            length + " characters long",
                            "max-name-length",
                            _maxNameLen));
        }
    }

    @Override
    public void validateIntegerLength(int length) {
        validateNumberLength(length);
    }

    @Override
    public void validateFPLength(int length) {
        validateNumberLength(length);
    }

    private void validateNumberLength(int length) {
        if (length > _maxNumLen) {
            throw new Exceeded(
                    LimitExceededException.shape(
                            "a JSON number",
                            length + " digits long",
                            "max-number-length",
                            _maxNumLen));
        }
    }
}
