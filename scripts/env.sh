# Sourced by the scripts in this folder: selects JDK 25 and quiet Maven options.
if [ -n "${JAVA_HOME:-}" ] && "$JAVA_HOME/bin/java" -version 2>&1 | grep -q 'version "25'; then
    :
elif [ -x /usr/lib/jvm/temurin-25-jdk-amd64/bin/java ]; then
    export JAVA_HOME=/usr/lib/jvm/temurin-25-jdk-amd64
else
    echo "NCS needs JDK 25: set JAVA_HOME to a JDK 25 install" >&2
    exit 1
fi
export PATH="$JAVA_HOME/bin:$PATH"
export MAVEN_OPTS="${MAVEN_OPTS:---sun-misc-unsafe-memory-access=allow}"

# The native build needs a C compiler, make and cmake; install them if this machine lacks them.
missing=""
for tool in gcc make cmake; do
    command -v "$tool" >/dev/null 2>&1 || missing="$missing $tool"
done
if [ -n "$missing" ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        echo "installing build tools:$missing" >&2
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq gcc make cmake >/dev/null
    else
        echo "NCS needs gcc, make and cmake; missing:$missing" >&2
        exit 1
    fi
fi
