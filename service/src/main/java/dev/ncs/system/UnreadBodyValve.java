package dev.ncs.system;

import jakarta.servlet.ServletException;
import java.io.IOException;
import org.apache.catalina.connector.Request;
import org.apache.catalina.connector.Response;
import org.apache.catalina.valves.ValveBase;
import org.apache.coyote.ActionCode;

/**
 * Closes the connection after a request whose body is not worth waiting for, without reading the rest of
 * it. By default Tomcat reads and discards an unread body (up to {@code server.tomcat.max-swallow-size}) so
 * that the connection can serve the next request; for a body that arrives a byte a second that would hold
 * the connection for as long as the client likes. A request is marked with {@link #ATTRIBUTE} (by
 * {@link ErrorMapping}) when its answer says the body was too slow.
 */
class UnreadBodyValve extends ValveBase {

    static final String ATTRIBUTE = UnreadBodyValve.class.getName() + ".close";

    UnreadBodyValve() {
        super(true);
    }

    @Override
    public void invoke(Request request, Response response) throws IOException, ServletException {
        getNext().invoke(request, response);
        if (request.getAttribute(ATTRIBUTE) != null) {
            request.getCoyoteRequest().action(ActionCode.DISABLE_SWALLOW_INPUT, null);
        }
    }
}
