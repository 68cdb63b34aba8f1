package dev.ncs;

import org.springframework.boot.SpringApplication;
import org.springframework.boot.autoconfigure.SpringBootApplication;
import org.springframework.boot.context.properties.ConfigurationPropertiesScan;

/** The Native Compute Service. */
@SpringBootApplication
@ConfigurationPropertiesScan
public class NcsApplication {

    public static void main(String[] args) {
        SpringApplication.run(NcsApplication.class, args);
    }
}
