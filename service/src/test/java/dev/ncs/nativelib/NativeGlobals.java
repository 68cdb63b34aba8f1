package dev.ncs.nativelib;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.time.Duration;
import java.util.Arrays;
import java.util.Optional;
import org.junit.jupiter.api.extension.AfterEachCallback;
import org.junit.jupiter.api.extension.BeforeEachCallback;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.extension.ExtensionContext;
import org.junit.platform.commons.support.AnnotationSupport;
import org.springframework.boot.context.properties.bind.Binder;
import org.springframework.boot.context.properties.source.ConfigurationPropertySources;
import org.springframework.boot.env.YamlPropertySourceLoader;
import org.springframework.context.ApplicationContext;
import org.springframework.core.io.ClassPathResource;
import org.springframework.test.context.junit.jupiter.SpringExtension;

/**
 * Puts libncs's process-wide settings back to what the test's configuration says, before and after
 * every test: the memory budget, the buffer cache's size (emptied of cached blocks), and Java-side
 * leak detection. libncs is one per JVM while Spring keeps one application context per
 * configuration, so a setting one test changes would otherwise reach every later test, whatever its
 * own context configured. Tests may change these settings freely and need not put them back.
 *
 * <p>The values are the application's own: in a Spring test, its context's bound {@link
 * NativeProperties} and {@link LeakDetectionProperties}; in a plain test, {@code application.yaml}
 * bound to the same records, whose {@code @DefaultValue}s fill what the file leaves out. Plugins
 * are not restored: libncs cannot unload a library, so a plugin a context loaded stays registered
 * for the rest of the JVM (tests that enumerate kernels pick the built-in library's).
 */
public final class NativeGlobals implements BeforeEachCallback, AfterEachCallback {

    /** The settings libncs is put back to. */
    record Settings(NativeProperties nativeProperties, LeakDetectionProperties leakDetection) {}

    @Override
    public void beforeEach(ExtensionContext context) {
        restore(context);
    }

    @Override
    public void afterEach(ExtensionContext context) {
        restore(context);
    }

    private static void restore(ExtensionContext context) {
        if (usesSpring(context)) {
            ApplicationContext application = SpringExtension.getApplicationContext(context);
            restore(
                    application.getBean(NativeRuntime.class),
                    new Settings(
                            application.getBean(NativeProperties.class),
                            application.getBean(LeakDetectionProperties.class)));
        } else {
            restore(NativeRuntime.load(Optional.empty()), applicationDefaults());
        }
    }

    /**
     * Applies {@code settings} and empties the buffer cache, as a fresh start of the service would.
     */
    static void restore(NativeRuntime runtime, Settings settings) {
        NativeProperties config = settings.nativeProperties();
        runtime.memory().trimBufferCache(Duration.ZERO);
        runtime.memory().setBufferCacheLimit(config.bufferCache().size().toBytes());
        runtime.memory().setMemoryLimit(config.memoryLimit().toBytes());
        runtime.leaks()
                .setLeakDetection(
                        settings.leakDetection().level(),
                        settings.leakDetection().samplingInterval());
    }

    /** The settings of {@code application.yaml}, bound as the service binds them. */
    static Settings applicationDefaults() {
        try {
            Binder binder =
                    new Binder(
                            ConfigurationPropertySources.from(
                                    new YamlPropertySourceLoader()
                                            .load(
                                                    "application.yaml",
                                                    new ClassPathResource("application.yaml"))));
            return new Settings(
                    binder.bindOrCreate("ncs.native", NativeProperties.class),
                    binder.bindOrCreate("ncs.leak-detection", LeakDetectionProperties.class));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /**
     * Whether the test runs in a Spring application context (its class, or a superclass, is
     * extended with Spring's).
     */
    private static boolean usesSpring(ExtensionContext context) {
        return context.getTestClass().stream()
                .flatMap(type ->
                        AnnotationSupport.findRepeatableAnnotations(type, ExtendWith.class)
                                .stream())
                .anyMatch(extendWith ->
                        Arrays.asList(extendWith.value()).contains(SpringExtension.class));
    }
}
