#!/usr/bin/env bash
# Start, stop or check an ActiveMQ instance of our own (STOMP and OpenWire on 127.0.0.1).
#
# Usage: .ci/activemq.sh start|stop|kill|restart|status
#   [--stomp-port N] [--openwire-port N] [--state DIR]
# or the same through the environment: CONTROLROOM_STOMP_PORT (61613), CONTROLROOM_OPENWIRE_PORT
# (61616), CONTROLROOM_ACTIVEMQ_STATE (.ci/state/activemq, or .ci/state/activemq-PORT for another
# STOMP port). Several instances run side by side
# with different ports and state directories (tests/faults starts a private one to stop it).
#
# start   answers at once if STOMP already listens on the port; otherwise starts the broker
#         (config from .ci/activemq.xml) and waits until STOMP answers. KahaDB stays in
#         DIR/data across stop/start, so persistent messages survive a restart.
# stop    stops the broker started from DIR (SIGTERM, then SIGKILL after 30 s) and waits until
#         it is gone. kill: SIGKILL at once (a crash).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
action="${1:-}"; [ $# -gt 0 ] && shift
stomp_port="${CONTROLROOM_STOMP_PORT:-61613}"
openwire_port="${CONTROLROOM_OPENWIRE_PORT:-61616}"
base="${CONTROLROOM_ACTIVEMQ_STATE:-}"
while [ $# -gt 0 ]; do
  case "$1" in
    --stomp-port) stomp_port="$2"; shift 2 ;;
    --openwire-port) openwire_port="$2"; shift 2 ;;
    --state) base="$2"; shift 2 ;;
    *) echo "activemq: unknown option $1" >&2; exit 2 ;;
  esac
done
# the default state directory is per STOMP port, so two instances never share one
if [ -z "$base" ]; then
  if [ "$stomp_port" = 61613 ]; then base="$here/state/activemq"; else base="$here/state/activemq-$stomp_port"; fi
fi
pidfile="$base/activemq.pid"

listening() { (echo > /dev/tcp/127.0.0.1/"$1") 2>/dev/null; }
running_pid() {  # the pid of the broker started from $base, if it still runs
  [ -f "$pidfile" ] || return 1
  local pid; pid="$(cat "$pidfile")"
  kill -0 "$pid" 2>/dev/null && tr '\0' ' ' < "/proc/$pid/cmdline" | grep -q -- "-Dactivemq.base=$base " \
    && echo "$pid"
}

start() {
  if listening "$stomp_port"; then echo "activemq: STOMP already answers on 127.0.0.1:$stomp_port"; return 0; fi
  if listening "$openwire_port"; then
    echo "activemq: port $openwire_port (OpenWire) is taken; pick another with --openwire-port" >&2; return 1
  fi
  if [ ! -f /usr/share/activemq/bin/activemq.jar ]; then
    echo "activemq: not installed; run: apt-get update && apt-get install -y activemq" >&2; return 1
  fi
  rm -rf "$base/conf" "$base/tmp"; mkdir -p "$base/data" "$base/tmp"
  cp -rL /etc/activemq/instances-available/main/. "$base/conf/" 2>/dev/null \
    || cp -r /etc/activemq/instances-available/main "$base/conf"
  cp "$here/activemq.xml" "$base/conf/activemq.xml"
  # log4j config of the Debian instance may be missing: fall back to the package's
  [ -f "$base/conf/log4j2.properties" ] || cp /usr/share/activemq/conf/log4j2.properties "$base/conf/" 2>/dev/null || true
  nohup java -Xms128M -Xmx384M \
    -Djava.io.tmpdir="$base/tmp" \
    -Dactivemq.home=/usr/share/activemq -Dactivemq.base="$base" \
    -Dactivemq.conf="$base/conf" -Dactivemq.data="$base/data" \
    -Dcontrolroom.stomp.port="$stomp_port" -Dcontrolroom.openwire.port="$openwire_port" \
    -jar /usr/share/activemq/bin/activemq.jar start "xbean:file:$base/conf/activemq.xml" \
    > "$base/activemq.log" 2>&1 &
  echo $! > "$pidfile"
  for _ in $(seq 1 120); do
    if listening "$stomp_port"; then
      echo "activemq: STOMP on 127.0.0.1:$stomp_port, OpenWire on $openwire_port (pid $(cat "$pidfile"), state $base)"
      return 0
    fi
    kill -0 "$(cat "$pidfile")" 2>/dev/null || break
    sleep 0.5
  done
  echo "activemq: did not answer on 127.0.0.1:$stomp_port within 60 s; log:" >&2; tail -40 "$base/activemq.log" >&2
  return 1
}

stop() {  # $1: the first signal (TERM, or KILL for a crash)
  local pid
  if ! pid="$(running_pid)"; then rm -f "$pidfile"; echo "activemq: not running from $base"; return 0; fi
  kill -"$1" "$pid" 2>/dev/null || true
  for _ in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
  if kill -0 "$pid" 2>/dev/null; then kill -KILL "$pid" 2>/dev/null || true; sleep 0.5; fi
  rm -f "$pidfile"
  echo "activemq: stopped pid $pid ($base)"
}

case "$action" in
  start) start ;;
  stop) stop TERM ;;
  kill) stop KILL ;;
  restart) stop TERM; start ;;
  status) listening "$stomp_port" && echo up || { echo down; exit 1; } ;;
  *) echo "usage: $0 start|stop|kill|restart|status [--stomp-port N] [--openwire-port N] [--state DIR]" >&2; exit 2 ;;
esac
