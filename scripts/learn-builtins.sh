#!/bin/sh
# Learns the per-program built-in profiles (jail/profiles/*.toml) with `jailx learn` on this
# host's Debian packages, each exercised through start, serve, reload and stop, several runs
# merged with --merge. Writes OUTDIR/NAME.learned.toml; the built-ins are these files reviewed
# by hand (see each file's header). As root. The host is not changed: every run is inside a
# private mount namespace (scratch copies over the directories the server writes) and a private
# network namespace (its own lo, so port 80 is never the host's).
#   scripts/learn-builtins.sh OUTDIR [nginx|redis-server|http.server|jq]...
set -eu
OUT=$(realpath "$1"); shift
J=${JAILX:-$(dirname "$(realpath "$0")")/../dist/jailx}
J=$(realpath "$J")
[ $# -gt 0 ] || set -- nginx redis-server http.server jq

# Run "$@" in private mount and network namespaces with lo up.
private() { unshare -m -n --propagation private -- sh -c 'ip link set lo up; exec "$@"' sh "$@"; }

learn_nginx() { # $1: run number; an empty /var/lib/nginx on run 1 (first start: mkdir, chown)
  s=$(mktemp -d /tmp/jx-learn-nginx-XXXXXX); trap 'rm -rf "$s"' EXIT; mkdir "$s/log" "$s/lib"
  chown www-data:adm "$s/log"; chmod 755 "$s/log"
  [ "$1" = 1 ] || cp -a /var/lib/nginx/. "$s/lib/"
  merge=""; [ "$1" = 1 ] || merge="--merge $OUT/nginx.learned.toml"
  private sh -ec '
    mount --bind "$1/log" /var/log/nginx; mount --bind "$1/lib" /var/lib/nginx
    : > /var/log/nginx/error.log; : > /var/log/nginx/access.log
    chown www-data:adm /var/log/nginx/error.log /var/log/nginx/access.log; chmod 640 /var/log/nginx/*.log
    "$2" learn --forking --pid-file /run/nginx.pid -o "$3" $4 --ro-bind /var/www --bind /var/log/nginx --bind /var/lib/nginx -- nginx &
    jx=$!; trap "kill -TERM $jx 2>/dev/null" EXIT
    until_() { i=0; until "$@" >/dev/null 2>&1; do i=$((i+1)); [ $i -lt 300 ] || exit 1; sleep 0.1; done; }
    until_ curl -sf http://127.0.0.1/
    curl -sf http://127.0.0.1/ >/dev/null; curl -s http://127.0.0.1/missing >/dev/null; curl -s "http://[::1]/" >/dev/null || true
    kill -HUP $jx; sleep 1; until_ curl -sf http://127.0.0.1/
    kill -TERM $jx; wait $jx; trap - EXIT
  ' sh "$s" "$J" "$OUT/nginx.learned.toml" "$merge"
  rm -rf "$s"
}

learn_redis() { # run 1: empty data dir; run 2: loads the dump of run 1
  s=$(mktemp -d /tmp/jx-learn-redis-XXXXXX); trap 'rm -rf "$s"' EXIT; mkdir "$s/lib" "$s/log"; chown redis:redis "$s/lib" "$s/log"; chmod 750 "$s/lib" "$s/log"
  for n in 1 2; do
    merge=""; [ $n = 1 ] || merge="--merge $OUT/redis-server.learned.toml"
    private sh -ec '
      mount --bind "$1/lib" /var/lib/redis; mount --bind "$1/log" /var/log/redis
      "$2" learn --ro-bind /etc/redis --user redis --pid-file /run/redis/redis-server.pid --chdir /var/lib/redis --tmpfs /run/redis \
        -o "$3" $4 --bind /var/lib/redis --bind /var/log/redis -- redis-server /etc/redis/redis.conf &
      jx=$!; trap "kill -TERM $jx 2>/dev/null" EXIT
      i=0; until redis-cli ping >/dev/null 2>&1; do i=$((i+1)); [ $i -lt 300 ] || exit 1; sleep 0.1; done
      redis-cli set k v >/dev/null; redis-cli get k >/dev/null; redis-cli save >/dev/null; redis-cli bgsave >/dev/null; sleep 1
      kill -TERM $jx; wait $jx; trap - EXIT
    ' sh "$s" "$J" "$OUT/redis-server.learned.toml" "$merge"
  done
  rm -rf "$s"
}

learn_http_server() {
  s=$(mktemp -d /tmp/jx-learn-www-XXXXXX); trap 'rm -rf "$s"' EXIT; echo hello > "$s/index.txt"; mkdir "$s/sub"; echo x > "$s/sub/f"
  for n in 1 2; do
    merge=""; [ $n = 1 ] || merge="--merge $OUT/python3-http.server.learned.toml"
    (cd "$s" && private sh -ec '
      "$1" learn -o "$2" $3 --ro-bind "$PWD" -- python3 -m http.server 8000 &
      jx=$!; trap "kill -TERM $jx 2>/dev/null" EXIT
      i=0; until curl -sf http://127.0.0.1:8000/ >/dev/null 2>&1; do i=$((i+1)); [ $i -lt 300 ] || exit 1; sleep 0.1; done
      curl -sf http://127.0.0.1:8000/index.txt >/dev/null; curl -sf http://127.0.0.1:8000/sub/ >/dev/null; curl -s http://127.0.0.1:8000/nope >/dev/null
      kill -TERM $jx; wait $jx || true; trap - EXIT
    ' sh "$J" "$OUT/python3-http.server.learned.toml" "$merge")
  done
  rm -rf "$s"
}

learn_jq() {
  s=$(mktemp -d /tmp/jx-learn-jq-XXXXXX); trap 'rm -rf "$s"' EXIT; echo '{"a":[1,2,{"b":"c"}]}' > "$s/in.json"
  echo '{"x":1}' | "$J" learn -o "$OUT/jq.learned.toml" -- jq .x >/dev/null
  (cd "$s" && "$J" learn -o "$OUT/jq.learned.toml" --merge "$OUT/jq.learned.toml" --ro-bind "$s" -- jq -r '.a[2].b' "$s/in.json" >/dev/null)
  echo '[3,1,2]' | "$J" learn -o "$OUT/jq.learned.toml" --merge "$OUT/jq.learned.toml" -- jq -c 'sort' >/dev/null
  rm -rf "$s"
}

for p in "$@"; do
  case $p in
    nginx) rm -f "$OUT/nginx.learned.toml"; learn_nginx 1; learn_nginx 2 ;;
    redis-server) rm -f "$OUT/redis-server.learned.toml"; learn_redis ;;
    http.server) rm -f "$OUT/python3-http.server.learned.toml"; learn_http_server ;;
    jq) rm -f "$OUT/jq.learned.toml"; learn_jq ;;
    *) echo "unknown: $p" >&2; exit 2 ;;
  esac
  echo "learned: $p" >&2
done
