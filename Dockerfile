# NCS container image. Two stages: the build stage compiles libncs (CMake) and the service jar with
# the Maven wrapper; the runtime stage holds a JRE, the jar, libncs and JNA's own native library,
# all installed at fixed paths so that nothing is extracted at run time: the container runs with a
# read-only root file system and a tmpfs /tmp.
#
#   docker build -t ncs .
#   docker run --read-only --tmpfs /tmp -p 127.0.0.1:8080:8080 -p 127.0.0.1:8081:8081 -p 127.0.0.1:9090:9090 ncs
#
# Without a registry, pass local base images: a JDK 25 image with apt-get (BUILD_IMAGE) and a
# Java 25 runtime image with bash and useradd (RUNTIME_IMAGE); scripts/setup.d/10-docker.sh makes both.
# Works with the classic builder (no BuildKit features).

ARG BUILD_IMAGE=maven:3.9-eclipse-temurin-25
ARG RUNTIME_IMAGE=eclipse-temurin:25-jre

FROM ${BUILD_IMAGE} AS build
# Maven on JDK 25 warns about sun.misc.Unsafe unless told it is allowed.
ENV MAVEN_OPTS=--sun-misc-unsafe-memory-access=allow
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends gcc libc6-dev make cmake \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# Maven, the plugins and the dependencies first, in their own layer: a source change does not
# download them again. The protobuf plugin's compilers (protoc and gRPC's Java generator, executables
# named in service/pom.xml) are not dependencies go-offline sees: fetched by name.
COPY mvnw pom.xml ./
COPY .mvn .mvn
COPY native/pom.xml native/
COPY service/pom.xml service/
COPY bench/pom.xml bench/
RUN ./mvnw -B -ntp -q -pl service -am dependency:go-offline \
    && ./mvnw -B -ntp -q dependency:get -Dtransitive=false -Dartifact=com.google.protobuf:protoc:4.33.5:exe:linux-x86_64 \
    && ./mvnw -B -ntp -q dependency:get -Dtransitive=false -Dartifact=io.grpc:protoc-gen-grpc-java:1.85.0:exe:linux-x86_64
COPY native native
COPY service service
COPY bench bench
RUN ./mvnw -B -ntp -o -pl service -am package -DskipTests
# Stage what the runtime needs under /out: the jar, libncs under its SONAME (libncs.so.MAJOR, the
# major version of ncs.h; NCS_NATIVE_LIBRARY below names it) and the libjnidispatch.so of the very
# JNA version inside the jar (JNA refuses a native library of another version).
RUN set -eu; \
    case "$(uname -m)" in \
        x86_64) jna_platform=linux-x86-64 ;; \
        aarch64) jna_platform=linux-aarch64 ;; \
        *) echo "no JNA platform for $(uname -m)" >&2; exit 1 ;; \
    esac; \
    mkdir -p /out/lib /tmp/jna; \
    cp service/target/ncs.jar /out/ncs.jar; \
    cp native/target/build/libncs.so.0 /out/lib/libncs.so.0; \
    cd /tmp/jna; \
    jna_jar=$(jar tf /out/ncs.jar | grep -E '^BOOT-INF/lib/jna-[0-9.]+\.jar$'); \
    jar xf /out/ncs.jar "$jna_jar"; \
    jar xf "$jna_jar" "com/sun/jna/$jna_platform/libjnidispatch.so"; \
    cp "com/sun/jna/$jna_platform/libjnidispatch.so" /out/lib/libjnidispatch.so; \
    chmod 0644 /out/ncs.jar /out/lib/*.so

FROM ${RUNTIME_IMAGE}
ARG NCS_UID=10001
RUN groupadd --gid "$NCS_UID" ncs \
    && useradd --uid "$NCS_UID" --gid ncs --no-create-home --home-dir /opt/ncs --shell /usr/sbin/nologin ncs \
    && install -d -m 0755 /opt/ncs /opt/ncs/lib /opt/ncs/plugins
COPY --from=build /out/ /opt/ncs/
# Owned by root and read-only for the service user: the plugins directory must not be writable by
# group or others (NCS refuses it otherwise); mount a directory of *.so files there to add kernels.
VOLUME /opt/ncs/plugins

# ncs.native.library and ncs.plugins.directory (an empty directory loads nothing).
ENV NCS_NATIVE_LIBRARY=/opt/ncs/lib/libncs.so.0 \
    NCS_PLUGINS_DIRECTORY=/opt/ncs/plugins \
    JAVA_TOOL_OPTIONS="-XX:MaxRAMPercentage=50 -XX:+ExitOnOutOfMemoryError"
# The heap takes half of the container's memory limit: native buffers live outside the heap, so
# keep NCS_NATIVE_MEMORY_LIMIT below the other half. Replace JAVA_TOOL_OPTIONS to tune the JVM.

USER ${NCS_UID}:${NCS_UID}
WORKDIR /opt/ncs
EXPOSE 8080 8081 9090
# No curl in the image: bash's /dev/tcp asks the management port's readiness group.
HEALTHCHECK --interval=10s --timeout=5s --start-period=60s --retries=3 \
    CMD ["bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/${MANAGEMENT_SERVER_PORT:-9090} && printf 'GET /actuator/health/readiness HTTP/1.0\\r\\nHost: localhost\\r\\n\\r\\n' >&3 && grep -q '\"status\":\"UP\"' <&3"]
# JNA loads its own libjnidispatch.so from /opt/ncs/lib instead of unpacking it into a temp dir. Tomcat
# frees its direct socket buffers with sun.misc.Unsafe::invokeCleaner when it stops: allowing it keeps
# JDK 25 from printing a deprecation warning at every shutdown.
ENTRYPOINT ["java", "--enable-native-access=ALL-UNNAMED", "--sun-misc-unsafe-memory-access=allow", \
            "-Djna.boot.library.path=/opt/ncs/lib", "-Djna.nounpack=true", \
            "-jar", "/opt/ncs/ncs.jar"]
