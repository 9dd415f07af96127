#!/usr/bin/env bash
# Start or stop a private ActiveMQ instance with a STOMP connector on 127.0.0.1:61613.
# Usage: .ci/activemq.sh start|stop|status   (state under .ci/state/activemq)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
base="$here/state/activemq"
pidfile="$base/activemq.pid"
port="${CONTROLROOM_STOMP_PORT:-61613}"

listening() { (echo > /dev/tcp/127.0.0.1/"$port") 2>/dev/null; }

case "${1:-}" in
  start)
    if listening; then echo "activemq: STOMP already answers on 127.0.0.1:$port"; exit 0; fi
    if [ ! -f /usr/share/activemq/bin/activemq.jar ]; then
      echo "activemq: not installed; run: apt-get update && apt-get install -y activemq" >&2; exit 1
    fi
    rm -rf "$base"; mkdir -p "$base/data" "$base/tmp"
    cp -rL /etc/activemq/instances-available/main/. "$base/conf/" 2>/dev/null || cp -r /etc/activemq/instances-available/main "$base/conf"
    cp "$here/activemq.xml" "$base/conf/activemq.xml"
    # log4j config of the Debian instance may be missing: fall back to the package's
    [ -f "$base/conf/log4j2.properties" ] || cp /usr/share/activemq/conf/log4j2.properties "$base/conf/" 2>/dev/null || true
    nohup java -Xms128M -Xmx384M \
      -Djava.io.tmpdir="$base/tmp" \
      -Dactivemq.home=/usr/share/activemq -Dactivemq.base="$base" \
      -Dactivemq.conf="$base/conf" -Dactivemq.data="$base/data" \
      -jar /usr/share/activemq/bin/activemq.jar start "xbean:file:$base/conf/activemq.xml" \
      > "$base/activemq.log" 2>&1 &
    echo $! > "$pidfile"
    for _ in $(seq 1 120); do
      if listening; then echo "activemq: STOMP on 127.0.0.1:$port (pid $(cat "$pidfile"))"; exit 0; fi
      sleep 0.5
    done
    echo "activemq: did not answer on 127.0.0.1:$port within 60 s; log:" >&2; tail -40 "$base/activemq.log" >&2; exit 1
    ;;
  stop)
    if [ -f "$pidfile" ]; then kill "$(cat "$pidfile")" 2>/dev/null || true; rm -f "$pidfile"; fi
    ;;
  status)
    listening && echo up || { echo down; exit 1; }
    ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
