# Shared pieces of the deploy/bench scripts (sourced, not run).
#
# Benchmarks never touch the demo's or the tests' data: they use their own Redis database (BENCH_REDIS_DB,
# default 2) and MariaDB schema (BENCH_SCHEMA, default concert_bench) on the local stack, emptied at the start
# of every run so that runs are comparable, and their own metrics file under .run/bench/.

bench_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
bench_run="$bench_root/.run/bench"
bench_redis_port=${CONCERT_STACK_REDIS_PORT:-16379}
bench_maria_port=${CONCERT_STACK_MARIADB_PORT:-13306}
bench_redis_db=${BENCH_REDIS_DB:-2}
bench_schema=${BENCH_SCHEMA:-concert_bench}
bench_name=$(basename "$0")

say() { printf '%s: %s\n' "$bench_name" "$*" >&2; }
step() { printf '\n== %s\n' "$*" >&2; }
die() { printf '%s: %s\n' "$bench_name" "$*" >&2; exit 1; }

# rcli ARGS…: redis-cli on the benchmark database.
rcli() { redis-cli -p "$bench_redis_port" -n "$bench_redis_db" "$@"; }

# need_packages PACKAGE…: installs the Debian packages that are missing (one apt-get update first).
need_packages() {
  local missing=() package
  for package in "$@"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  [ "$(id -u)" -eq 0 ] || die "missing packages: ${missing[*]}; run as root or apt-get install -y ${missing[*]}"
  say "installing ${missing[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get update -qq
  # The packages' own services are not wanted (we start what we need ourselves); policy-rc.d keeps them off.
  local made_policy=0
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
    chmod +x /usr/sbin/policy-rc.d
    made_policy=1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  [ "$made_policy" -eq 1 ] && rm -f /usr/sbin/policy-rc.d
  return 0
}

# bench_binaries: sets $bin to the folder of the executables. CONCERT_BIN_DIR (e.g. the debug build that
# ./deploy/test already made) skips the build; otherwise `swift build -c release`.
bench_binaries() {
  if [ -n "${CONCERT_BIN_DIR:-}" ]; then
    bin=$CONCERT_BIN_DIR
    say "using the executables in $bin (CONCERT_BIN_DIR; no build)"
  else
    step "release build (swift build -c release; the first one takes a few minutes)"
    local status
    set +o pipefail
    (cd "$bench_root" && swift build -c release 2>&1) | grep -Ev '^\[[0-9]+/[0-9]+\] (Compiling|Emitting|Write|Wrapping)'
    status=${PIPESTATUS[0]}
    set -o pipefail
    [ "$status" -eq 0 ] || die "the release build failed (see above)"
    bin=$(cd "$bench_root" && swift build -c release --show-bin-path)
  fi
  local executable
  for executable in "$@"; do
    [ -x "$bin/$executable" ] || die "$bin/$executable is missing (build it, or point CONCERT_BIN_DIR at a build folder)"
  done
}

# bench_stack: starts the local stack, exports the CONCERT_* variables for the benchmark's database and schema,
# and empties both (DROP and CREATE the schema, FLUSHDB the Redis database), then migrates.
bench_stack() {
  bench_lock
  step "local stack, benchmark database (Redis db $bench_redis_db, MariaDB schema $bench_schema), emptied"
  (cd "$bench_root" && ./deploy/local-stack up) >&2
  eval "$(cd "$bench_root" && ./deploy/local-stack env)"
  export CONCERT_REDIS_URL="redis://127.0.0.1:$bench_redis_port/$bench_redis_db"
  export CONCERT_MARIADB_URL="mariadb://concert:concert-local@127.0.0.1:$bench_maria_port/$bench_schema"
  export CONCERT_METRICS_FILE="$bench_run/metrics/concert_batch.prom"
  export CONCERT_SQL_DIR="$bench_root/sql"
  mkdir -p "$bench_run/metrics"
  bench_reset
}

bench_reset() {
  mariadb --no-defaults -uroot -S "$bench_root/.run/mariadb/mysqld.sock" <<SQL
DROP DATABASE IF EXISTS $bench_schema;
CREATE DATABASE $bench_schema CHARACTER SET utf8mb4 COLLATE utf8mb4_bin;
GRANT ALL ON $bench_schema.* TO 'concert'@'127.0.0.1';
GRANT ALL ON $bench_schema.* TO 'concert'@'localhost';
SQL
  rcli FLUSHDB >/dev/null
  "$bin/concert-admin" migrate | grep -v '^{' >&2
}

# bench_drop: frees what a run left (unless the caller keeps it for inspection).
bench_drop() {
  rcli FLUSHDB ASYNC >/dev/null 2>&1 || true
  mariadb --no-defaults -uroot -S "$bench_root/.run/mariadb/mysqld.sock" -e "DROP DATABASE IF EXISTS $bench_schema" 2>/dev/null || true
}

# create_performance SEATS SECTIONS: creates a benchmark performance a week ahead; prints its id.
create_performance() {
  "$bin/concert-admin" create-performance --title "Benchmark $bench_name $(date -u +%H:%M:%S)" \
    --starts-at "$(date -u -d '+7 days' +%Y-%m-%dT20:00:00Z)" --seats "$1" --sections "$2" | tail -n 1
}

# Background processes this script started: each in its own process group (setsid), stopped by that group's
# id at exit, so a loop and the child it is running go together. Never anything we did not start.
bench_groups=()
start_group() { # start_group LOGFILE COMMAND…  → sets $started_pid
  setsid "${@:2}" >"$1" 2>&1 &
  started_pid=$!
  bench_groups+=("$started_pid")
}
stop_group() { # stop_group PID: TERM, then KILL after 5 s
  local pid=$1
  kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || return 0
  for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -KILL -- "-$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}
stop_all_groups() {
  local pid
  for pid in "${bench_groups[@]}"; do stop_group "$pid"; done
  bench_groups=()
}

# wait_until SECONDS COMMAND…: retries the command every 0.1 s; false when it never succeeds.
wait_until() {
  local tries=$(($1 * 10))
  shift
  for _ in $(seq 1 "$tries"); do "$@" >/dev/null 2>&1 && return 0; sleep 0.1; done
  return 1
}

port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# machine_busy SECONDS: how busy both cores were over the next SECONDS, in percent, before we load them. This is a
# shared machine: anything well above 0 means other work is competing with the benchmark, and its numbers are low.
machine_busy() {
  local a b
  read -r -a a < <(head -n 1 /proc/stat)
  sleep "$1"
  read -r -a b < <(head -n 1 /proc/stat)
  awk -v u1="${a[1]}" -v n1="${a[2]}" -v s1="${a[3]}" -v i1="${a[4]}" -v w1="${a[5]}" -v q1="${a[6]}" -v r1="${a[7]}" -v t1="${a[8]}" \
      -v u2="${b[1]}" -v n2="${b[2]}" -v s2="${b[3]}" -v i2="${b[4]}" -v w2="${b[5]}" -v q2="${b[6]}" -v r2="${b[7]}" -v t2="${b[8]}" \
      'BEGIN { total = (u2+n2+s2+i2+w2+q2+r2+t2) - (u1+n1+s1+i1+w1+q1+r1+t1); idle = (i2+w2) - (i1+w1);
               printf "%.0f", (total > 0 ? 100 * (total - idle) / total : 0) }'
}

# pick_port PREFERRED: the first free loopback port from PREFERRED on (other sessions may hold the usual ones).
pick_port() {
  local port
  for port in $(seq "$1" $(($1 + 200))); do
    if port_free "$port"; then echo "$port"; return 0; fi
  done
  die "no free port in $1…$(($1 + 200))"
}

# One benchmark at a time on these servers (a smoke run from ./deploy/test and a measured run would skew each other
# and share the benchmark database).
bench_lock() {
  exec 9>"/tmp/concert-bench-$bench_redis_port-$bench_redis_db.lock"
  if ! flock -n 9; then
    say "another benchmark is running on these servers; waiting for it (up to 15 minutes)"
    flock -w 900 9 || die "another benchmark still holds /tmp/concert-bench-$bench_redis_port-$bench_redis_db.lock"
  fi
}

# bench_revision: the commit measured, and whether the working tree had changes (numbers belong to a revision).
bench_revision() {
  git -C "$bench_root" describe --always --dirty 2>/dev/null || echo "unknown revision"
}

# cpu_ticks PID: user + system clock ticks (getconf CLK_TCK per second) the process has used so far
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
