package dev.ncs.system;

import dev.ncs.inference.Downloads;
import jakarta.servlet.ServletException;
import java.io.IOException;
import org.apache.catalina.connector.Request;
import org.apache.catalina.connector.Response;
import org.apache.catalina.valves.ValveBase;
import org.apache.coyote.ActionCode;

/**
 * Ends a connection the servlet API cannot end, once the application is done with its request:
 *
 * <ul>
 *   <li>a request marked {@link #UNREAD_BODY} (its body came too slowly, {@link ErrorMapping}) gets
 *       its answer and then the connection closes without the rest of the body being read. By
 *       default Tomcat reads and discards an unread body (up to {@code
 *       server.tomcat.max-swallow-size}) to serve the next request on the connection; for a body
 *       that arrives a byte a second that would hold it for as long as the client likes;
 *   <li>a request marked {@link Downloads#ABANDONED} (its client did not read the response, {@link
 *       Downloads}) has its connection closed at once, without flushing what is buffered, as
 *       Tomcat's error report valve does after a failure.
 * </ul>
 */
class EndConnectionValve extends ValveBase {

    static final String UNREAD_BODY = EndConnectionValve.class.getName() + ".unreadBody";

    EndConnectionValve() {
        super(true);
    }

    @Override
    public void invoke(Request request, Response response) throws IOException, ServletException {
        getNext().invoke(request, response);
        Object abandoned = request.getAttribute(Downloads.ABANDONED);
        if (abandoned != null) {
            response.getCoyoteResponse().action(ActionCode.CLOSE_NOW, abandoned);
        } else if (request.getAttribute(UNREAD_BODY) != null) {
            request.getCoyoteRequest().action(ActionCode.DISABLE_SWALLOW_INPUT, null);
        }
    }
}
