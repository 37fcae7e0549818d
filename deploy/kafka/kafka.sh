#!/usr/bin/env bash
# A local single-node Apache Kafka broker (KRaft, combined broker + controller) on 127.0.0.1, for
# tests and operators, without Docker and without the release tarball's kafka-*.sh scripts:
# the jars come from Maven Central and run with `java -cp`.
#
#   deploy/kafka/kafka.sh fetch    resolve the broker jars into $KAFKA_CACHE (skipped when present)
#   deploy/kafka/kafka.sh start    format storage, start the broker in the background, wait until ready
#   deploy/kafka/kafka.sh stop     stop it (SIGTERM, then SIGKILL) and remove $KAFKA_DATA/$KAFKA_PORT
#   deploy/kafka/kafka.sh status   exit 0 when running, 3 when not
#   deploy/kafka/kafka.sh log      print the last lines of the broker log
#
# Settings (environment): KAFKA_VERSION, KAFKA_PORT, KAFKA_CONTROLLER_PORT, KAFKA_DATA, KAFKA_CACHE,
# KAFKA_HEAP_OPTS, KAFKA_START_TIMEOUT, KAFKA_STOP_TIMEOUT, KAFKA_KEEP_DATA, KAFKA_MVN_ARGS.
# See deploy/kafka/README.md.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
HOST=127.0.0.1
KAFKA_VERSION="${KAFKA_VERSION:-4.3.2}"
KAFKA_PORT="${KAFKA_PORT:-9092}"
KAFKA_CONTROLLER_PORT="${KAFKA_CONTROLLER_PORT:-$((KAFKA_PORT + 1))}"
KAFKA_CACHE="${KAFKA_CACHE:-$HERE/.cache}"
KAFKA_DATA="${KAFKA_DATA:-$HERE/.data}"
KAFKA_HEAP_OPTS="${KAFKA_HEAP_OPTS:--Xms128m -Xmx512m}"
KAFKA_START_TIMEOUT="${KAFKA_START_TIMEOUT:-90}"
KAFKA_STOP_TIMEOUT="${KAFKA_STOP_TIMEOUT:-30}"
KAFKA_KEEP_DATA="${KAFKA_KEEP_DATA:-0}"
KAFKA_MVN_ARGS="${KAFKA_MVN_ARGS:-}"

abspath() { case "$1" in /*) printf '%s\n' "$1" ;; *) printf '%s\n' "$PWD/$1" ;; esac; }
KAFKA_CACHE="$(abspath "$KAFKA_CACHE")"
KAFKA_DATA="$(abspath "$KAFKA_DATA")"

DIST="$KAFKA_CACHE/kafka-$KAFKA_VERSION"
INST="$KAFKA_DATA/$KAFKA_PORT"   # one directory per broker, so brokers on other ports can coexist
LIBS="$DIST/libs"
PROPS="$INST/server.properties"
PIDFILE="$INST/broker.pid"
LOGFILE="$INST/broker.log"
MARKER="$INST/.kafka-sh"   # written by start; stop only deletes a directory that has it

die() { echo "kafka.sh: $*" >&2; exit 1; }
need() { command -v "$1" >/dev/null 2>&1 || die "'$1' not found on PATH ($2)"; }

port_open() { (exec 3<>"/dev/tcp/$HOST/$1") 2>/dev/null; }

# True while process $1 runs (an exited child of this shell lingers as a zombie until reaped,
# and `kill -0` would still succeed on it).
alive() {
    local state
    state="$(ps -o stat= -p "$1" 2>/dev/null)" || return 1
    [[ -n "$state" && "$state" != Z* ]]
}

# The pid of our broker when it is alive (checked against the command line, so a reused pid
# after a reboot is not mistaken for it), else nothing.
broker_pid() {
    [[ -f "$PIDFILE" ]] || return 0
    local pid
    pid="$(cat "$PIDFILE")"
    [[ "$pid" =~ ^[0-9]+$ ]] || return 0
    if alive "$pid" && ps -p "$pid" -o args= 2>/dev/null | grep -q 'kafka\.Kafka'; then
        echo "$pid"
    fi
}

log_tail() {
    if [[ -f "$LOGFILE" ]]; then
        echo "---- last 40 lines of $LOGFILE ----" >&2
        tail -n 40 "$LOGFILE" >&2
        echo "----" >&2
    fi
}

# Short-lived tools (storage format, readiness probe): small heap, quick JIT, serial GC.
java_tool() {
    java -Xmx256m -XX:TieredStopAtLevel=1 -XX:+UseSerialGC -Djava.awt.headless=true \
        -Dlog4j2.configurationFile="$HERE/log4j2.properties" "$@"
}

cmd_fetch() {
    if [[ -f "$DIST/.complete" ]]; then
        echo "Kafka $KAFKA_VERSION jars already in $LIBS"
        return 0
    fi
    need mvn "install Apache Maven 3.6+"
    need javac "install a JDK 17+"
    local tmp="$DIST.tmp.$$"
    rm -rf "$tmp"
    mkdir -p "$tmp"
    trap 'rm -rf "$tmp"' EXIT
    echo "Fetching Kafka $KAFKA_VERSION (kafka_2.13 and runtime dependencies) from Maven Central..."
    # shellcheck disable=SC2086
    if ! mvn -q -B -Dstyle.color=never -f "$HERE/pom.xml" -Dkafka.version="$KAFKA_VERSION" \
        dependency:copy-dependencies -DoutputDirectory="$tmp/libs" $KAFKA_MVN_ARGS >"$tmp/mvn.log" 2>&1; then
        cat "$tmp/mvn.log" >&2
        die "Maven could not resolve org.apache.kafka:kafka_2.13:$KAFKA_VERSION"
    fi
    rm -f "$tmp/mvn.log"
    [[ -f "$tmp/libs/kafka_2.13-$KAFKA_VERSION.jar" ]] || die "kafka_2.13-$KAFKA_VERSION.jar missing after fetch"
    javac -nowarn -cp "$tmp/libs/*" -d "$tmp/classes" "$HERE/Ready.java" || die "could not compile Ready.java"
    rm -rf "$HERE/target"
    rm -rf "$DIST"
    mv "$tmp" "$DIST"
    trap - EXIT
    touch "$DIST/.complete"
    echo "Kafka $KAFKA_VERSION: $(find "$LIBS" -name '*.jar' | wc -l) jars in $LIBS"
}

write_properties() {
    cat >"$PROPS" <<EOF
# Written by deploy/kafka/kafka.sh start; rewritten on every start.
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@$HOST:$KAFKA_CONTROLLER_PORT
controller.listener.names=CONTROLLER
listeners=PLAINTEXT://$HOST:$KAFKA_PORT,CONTROLLER://$HOST:$KAFKA_CONTROLLER_PORT
advertised.listeners=PLAINTEXT://$HOST:$KAFKA_PORT
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
log.dirs=$INST/kraft-logs
num.partitions=4
default.replication.factor=1
min.insync.replicas=1
auto.create.topics.enable=true
delete.topic.enable=true
offsets.topic.replication.factor=1
offsets.topic.num.partitions=8
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=4
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
num.network.threads=2
num.io.threads=4
num.recovery.threads.per.data.dir=1
log.retention.hours=168
EOF
}

# A start that went wrong: show the log, end the half-started broker, keep $INST to inspect.
start_failed() {
    local pid="$1" reason="$2"
    log_tail
    if alive "$pid"; then
        kill -TERM "$pid" 2>/dev/null || true
        for _ in $(seq 50); do alive "$pid" || break; sleep 0.2; done
        alive "$pid" && kill -KILL "$pid" 2>/dev/null
    fi
    rm -f "$PIDFILE"
    die "$reason; broker stopped, log and data kept in $INST ('$0 stop' removes them)"
}

cmd_start() {
    local pid
    pid="$(broker_pid)"
    if [[ -n "$pid" ]]; then
        echo "Kafka broker already running on $HOST:$KAFKA_PORT (pid $pid, version $(cat "$INST/version" 2>/dev/null || echo "?"))"
        return 0
    fi
    need java "install a JDK 17+"
    [[ -f "$DIST/.complete" ]] || die "Kafka $KAFKA_VERSION jars not in $LIBS; run: $0 fetch"
    port_open "$KAFKA_PORT" && die "port $HOST:$KAFKA_PORT is already in use by another process"
    port_open "$KAFKA_CONTROLLER_PORT" && die "controller port $HOST:$KAFKA_CONTROLLER_PORT is already in use"
    if [[ -d "$INST" && ! -f "$MARKER" && -n "$(ls -A "$INST")" ]]; then
        die "$INST exists, is not empty and was not created by kafka.sh; choose another KAFKA_DATA"
    fi
    mkdir -p "$INST"
    touch "$MARKER"
    echo "$KAFKA_VERSION" >"$INST/version"
    write_properties

    if [[ -f "$INST/kraft-logs/meta.properties" ]]; then
        # Left by a broker that was not stopped with `stop` (a crash, a failed start): reuse it.
        echo "Reusing the formatted storage in $INST/kraft-logs"
    else
        # A Kafka cluster id is 16 random bytes, base64url without padding.
        local cluster_id
        cluster_id="$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n')"
        KAFKA_LOG_LEVEL=WARN java_tool -cp "$LIBS/*" kafka.tools.StorageTool format -t "$cluster_id" -c "$PROPS" \
            >"$INST/format.log" 2>&1 || { cat "$INST/format.log" >&2; die "storage format failed"; }
    fi

    # shellcheck disable=SC2086
    nohup java $KAFKA_HEAP_OPTS -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:+ExitOnOutOfMemoryError \
        -Djava.awt.headless=true -Dlog4j2.configurationFile="$HERE/log4j2.properties" \
        -cp "$LIBS/*" kafka.Kafka "$PROPS" >"$LOGFILE" 2>&1 </dev/null &
    pid=$!
    echo "$pid" >"$PIDFILE"

    local deadline=$((SECONDS + KAFKA_START_TIMEOUT))
    until port_open "$KAFKA_PORT"; do
        alive "$pid" || start_failed "$pid" "broker exited during startup"
        ((SECONDS < deadline)) || start_failed "$pid" "port $HOST:$KAFKA_PORT did not open within ${KAFKA_START_TIMEOUT}s"
        sleep 0.2
    done
    local left=$((deadline - SECONDS))
    ((left > 1)) || left=1
    KAFKA_LOG_LEVEL=ERROR java_tool -cp "$DIST/classes:$LIBS/*" Ready "$HOST:$KAFKA_PORT" "$((left * 1000))" \
        || start_failed "$pid" "broker on $HOST:$KAFKA_PORT not ready within ${KAFKA_START_TIMEOUT}s"
    echo "Kafka broker started on $HOST:$KAFKA_PORT (pid $pid, version $KAFKA_VERSION)"
}

cmd_stop() {
    local pid
    pid="$(broker_pid)"
    if [[ -z "$pid" ]]; then
        echo "Kafka broker not running (no live pid in $PIDFILE)"
    else
        kill -TERM "$pid" 2>/dev/null || true
        local deadline=$((SECONDS + KAFKA_STOP_TIMEOUT))
        while alive "$pid" && ((SECONDS < deadline)); do sleep 0.2; done
        if alive "$pid"; then
            echo "broker pid $pid did not stop within ${KAFKA_STOP_TIMEOUT}s; sending SIGKILL" >&2
            kill -KILL "$pid" 2>/dev/null || true
            while alive "$pid"; do sleep 0.1; done
        fi
        echo "Kafka broker stopped (pid $pid)"
    fi
    if [[ "$KAFKA_KEEP_DATA" == 1 ]]; then
        rm -f "$PIDFILE"
        echo "kept $INST (KAFKA_KEEP_DATA=1)"
    elif [[ -f "$MARKER" ]]; then
        rm -rf "$INST"
        rmdir "$KAFKA_DATA" 2>/dev/null || true
        echo "removed $INST"
    elif [[ -d "$INST" ]]; then
        echo "not removing $INST: not created by kafka.sh" >&2
    fi
}

cmd_status() {
    local pid
    pid="$(broker_pid)"
    if [[ -z "$pid" ]]; then
        echo "Kafka broker not running"
        return 3
    fi
    local state="port closed"
    port_open "$KAFKA_PORT" && state="listening"
    echo "Kafka broker running on $HOST:$KAFKA_PORT (pid $pid, version $(cat "$INST/version" 2>/dev/null || echo "?"), $state, data $INST)"
}

cmd_log() {
    [[ -f "$LOGFILE" ]] || die "no broker log at $LOGFILE"
    tail -n "${1:-100}" "$LOGFILE"
}

case "${1:-}" in
    fetch) cmd_fetch ;;
    start) cmd_start ;;
    stop) cmd_stop ;;
    status) cmd_status ;;
    log) shift; cmd_log "$@" ;;
    *)
        echo "usage: $0 {fetch|start|stop|status|log [N]}" >&2
        exit 2
        ;;
esac
