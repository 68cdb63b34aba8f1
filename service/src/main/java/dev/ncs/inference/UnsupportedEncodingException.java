package dev.ncs.inference;

/** The request uses a body encoding this server does not implement: a 415. */
public class UnsupportedEncodingException extends RuntimeException {

    public UnsupportedEncodingException(String message) {
        super(message);
    }
}
