# Selects JDK 25 for this shell: sets JAVA_HOME and puts its bin first on PATH. Source it
# (`. scripts/env.sh`); the scripts in this folder do. It only sets variables: it installs nothing
# (scripts/setup-tools does) and never ends the shell that sources it: when no JDK 25 is found it
# says so and returns 1, leaving the shell as it was.
if ! (return 0 2>/dev/null); then
    echo "scripts/env.sh sets variables in the shell that sources it: run '. scripts/env.sh' instead" >&2
    exit 2 # executed, not sourced: this ends only the script's own process
fi

if [ -n "${JAVA_HOME:-}" ] && "$JAVA_HOME/bin/java" -version 2>&1 | grep -q 'version "25'; then
    :
elif [ -x /usr/lib/jvm/temurin-25-jdk-amd64/bin/java ]; then
    export JAVA_HOME=/usr/lib/jvm/temurin-25-jdk-amd64
else
    echo "scripts/env.sh: NCS needs JDK 25, and neither JAVA_HOME (${JAVA_HOME:-unset}) nor" \
        "/usr/lib/jvm/temurin-25-jdk-amd64 is one: set JAVA_HOME to a JDK 25 and source it again" >&2
    return 1
fi
case ":$PATH:" in
    ":$JAVA_HOME/bin:"*) ;;
    *) export PATH="$JAVA_HOME/bin:$PATH" ;;
esac
