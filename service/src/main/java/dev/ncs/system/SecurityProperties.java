package dev.ncs.system;

import java.util.List;
import org.springframework.boot.context.properties.ConfigurationProperties;
import org.springframework.boot.context.properties.bind.DefaultValue;

/**
 * API authentication.
 *
 * @param tokens bearer tokens accepted on /v2/** (health excepted); empty means the API is open
 */
@ConfigurationProperties("ncs.security")
public record SecurityProperties(@DefaultValue List<String> tokens) {

    @Override
    public String toString() {
        return "SecurityProperties[tokens=" + tokens.size() + " configured]";
    }
}
