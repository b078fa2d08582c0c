#!/usr/bin/env bash
# The gateway against Debian's nginx as a plain reverse proxy, both in front
# of the same mock (--no-limits --latency-ms 0), in one run:
#   1. throughput: wrk -t1 -c64 (direct to the mock, via nginx, via the gateway), with
#      the CPU and the sleeps (voluntary context switches) per request of the proxy and the mock,
#      wrk's sleeps, and how often the proxy was preempted (another program took its core);
#   2. added latency over direct at half the gateway's saturating rate
#      (64 connections paced by bench/wrk_chat_paced.lua, ROUNDS rounds),
#      p50 and p99;
#   3. 5,000 concurrent streaming responses held through each proxy
#      (tests/sdk/hold_streams.mjs), memory per connection from RSS.
# nginx is installed here (apt-get), for this benchmark only.
# Usage: bench/gateway_vs_nginx.sh   (DURATION=3s, ROUNDS=5, WRK_SCRIPT=bench/wrk_chat.lua, STREAMS=5000, PARTS=123, MOCK_THREADS=1,
#        CLI=path for the mock and the gateway (build/pgo/app/sluice-cli: make pgo's, as packaged; the mock's
#        build moves nginx's rate more than the gateway's, docs/benchmarks.md),
#        GATEWAY_CLI=path for the gateway alone,
#        MOCK_KIND=static: a provider that is not ours, nginx answering with one fixed chat completion (parts 1 and 2),
#        SERVE_ARGS=more serve options, e.g. --threads 1,
#        PLACEMENT=apart|together|client: pin the processes with taskset, to see what the kernel's choice costs)
# Traffic goes to 127.0.0.1 only, and every run stops by itself.
set -euo pipefail
cd "$(dirname "$0")/.."
CLI=${CLI:-build/release/app/sluice-cli}  # CLI=path: another build, to compare before and after
DURATION=${DURATION:-3s}
WRK_SCRIPT=${WRK_SCRIPT:-bench/wrk_chat.lua}  # part 1's requests; bench/wrk_chat_varied.lua: a new prompt each time
# Parts 1 and 2 in alternating rounds, reporting medians: on a shared
# machine one round of gateway / nginx read anywhere from 0.58 to 1.09 within
# a minute (docs/benchmarks.md), so one long round says more about the
# neighbours than about the proxies. ROUNDS=1 DURATION=15s: the old default.
ROUNDS=${ROUNDS:-5}
STREAMS=${STREAMS:-5000}
PARTS=${PARTS:-123}  # which of the three parts to run
case ${PLACEMENT:-} in
  "") ;;
  apart|together|client) [[ $(nproc) -ge 2 ]] || { echo "PLACEMENT needs two cores" >&2; exit 2; };;
  *) echo "PLACEMENT=$PLACEMENT: apart, together or client" >&2; exit 2;;
esac
[[ -x $CLI ]] || { echo "build sluice-cli first (make build)" >&2; exit 2; }
command -v wrk >/dev/null || { echo "wrk is missing: scripts/install-deps.sh" >&2; exit 2; }
if ! command -v nginx >/dev/null && [[ ! -x /usr/sbin/nginx ]]; then
  echo "installing nginx for this benchmark (apt-get)"
  sudo_cmd=(); [[ $(id -u) -eq 0 ]] || sudo_cmd=(sudo)
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends nginx-light >/dev/null \
    || DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends nginx >/dev/null
  # Installing may start the packaged service; this benchmark runs its own.
  command -v systemctl >/dev/null && "${sudo_cmd[@]}" systemctl stop nginx 2>/dev/null || true
fi
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
ulimit -n "$(ulimit -Hn)"
. bench/gateway_common.sh
work=$W
rss_kb() { awk '/VmRSS/{print $2}' "/proc/$1/status"; }

start_mock "$CLI" "${MOCK_THREADS:-1}"
start_nginx "$NGINX" 20000 20000
write_gateway_config
GATEWAY_CLI=${GATEWAY_CLI:-$CLI}
start_gateway "$GATEWAY_CLI" gw
await_nginx
# Three single-threaded programs (wrk, the mock, the proxy) share the cores,
# and where the kernel puts them decides much of the figure: a proxy that
# wakes the mock with every request sent may draw the mock onto its own core
# (a socket's wake-up is a "sync" one). PLACEMENT pins them (CPU 0 and 1),
# the same way for nginx and the gateway: "apart" gives the proxy CPU 0 to
# itself (the mock and wrk on CPU 1), "together" puts the mock on the proxy's
# core (wrk alone on CPU 1), "client" puts wrk there (the mock alone on CPU 1,
# as a provider elsewhere would be). Unset: the kernel chooses, as in use.
WRK=(wrk)
if [[ -n ${PLACEMENT:-} ]]; then  # checked above
  mock_cpu=1; wrk_cpu=1
  [[ $PLACEMENT == together ]] && mock_cpu=0
  [[ $PLACEMENT == client ]] && wrk_cpu=0
  taskset -a -cp "$mock_cpu" "$mock_pid" > /dev/null
  taskset -a -cp 0 "$nginx_worker" > /dev/null
  taskset -a -cp 0 "$gw_pid" > /dev/null
  WRK=(taskset -c "$wrk_cpu" wrk)
fi
mock_is=$CLI; [[ ${MOCK_KIND:-sluice} == static ]] && mock_is="nginx with a fixed answer"
echo "mock $mock ($mock_is), nginx $nginx_url ($("$NGINX" -v 2>&1 | sed 's/.*: //')), gateway $gw_url ($GATEWAY_CLI); $(nproc) cores${PLACEMENT:+; placement $PLACEMENT}"

rps() { awk '/Requests\/sec/{print $2}'; }
# Runs a command and then prints "child sleeps V" on stdout: the voluntary
# context switches of the command (and its children), from getrusage, so
# that part 1 can say how often wrk went to sleep per request.
WITH_SLEEPS=(python3 -c 'import resource, subprocess, sys
rc = subprocess.run(sys.argv[1:]).returncode
print("child sleeps", resource.getrusage(resource.RUSAGE_CHILDREN).ru_nvcsw, flush=True)
sys.exit(rc)')
# A process's CPU time so far, user and system, in clock ticks.
user_system_ticks() { awk '{print $14, $15}' "/proc/$1/stat"; }
declare -A RPS
if [[ $PARTS == *1* || $PARTS == *2* ]]; then
echo
echo "== 1. throughput: wrk -t1 -c64 -d$DURATION -s $WRK_SCRIPT, $ROUNDS round(s) of direct, nginx, gateway in turn (CPU: the proxy's, user + system, per request; sleeps: voluntary context switches per request, of wrk, the proxy and the mock; preempted: the proxy's involuntary ones, another program took its core)"
declare -A SAMPLES USER_US SYSTEM_US SLEEPS_PROXY SLEEPS_MOCK PREEMPTED_PROXY SLEEPS_WRK
ratios=()
for round in $(seq "$ROUNDS"); do
  for name in direct nginx gateway; do
    case $name in direct) url=$mock; pid=$mock_pid;; nginx) url=$nginx_url; pid=$nginx_worker;; gateway) url=$gw_url; pid=$gw_pid;; esac
    before=$(user_system_ticks "$pid") sleeps_before="$(ctx_switches "$pid" voluntary) $(ctx_switches "$mock_pid" voluntary) $(ctx_switches "$pid" nonvoluntary)"
    out=$("${WITH_SLEEPS[@]}" "${WRK[@]}" -t1 -c64 -d"$DURATION" -s "$WRK_SCRIPT" "$url")
    after=$(user_system_ticks "$pid") sleeps_after="$(ctx_switches "$pid" voluntary) $(ctx_switches "$mock_pid" voluntary) $(ctx_switches "$pid" nonvoluntary)"
    RPS[$name]=$(echo "$out" | rps)
    SAMPLES[$name]+="${RPS[$name]} "
    n=$(echo "$out" | awk '/requests in/{print $1}')
    read -r user system < <(awk -v b="$before" -v a="$after" -v t="$tick_us" -v n="$n" \
      'BEGIN{split(b, x, " "); split(a, y, " "); printf "%.1f %.1f\n", (y[1] - x[1]) * t / n, (y[2] - x[2]) * t / n}')
    read -r sleeps_proxy sleeps_mock preempted < <(awk -v b="$sleeps_before" -v a="$sleeps_after" -v n="$n" \
      'BEGIN{split(b, x, " "); split(a, y, " "); printf "%.2f %.2f %.2f\n", (y[1] - x[1]) / n, (y[2] - x[2]) / n, (y[3] - x[3]) / n}')
    USER_US[$name]+="$user "
    SYSTEM_US[$name]+="$system "
    SLEEPS_PROXY[$name]+="$sleeps_proxy "
    SLEEPS_MOCK[$name]+="$sleeps_mock "
    PREEMPTED_PROXY[$name]+="$preempted "
    sleeps_wrk=$(echo "$out" | awk -v n="$n" '/^child sleeps/{printf "%.2f", $3 / n}')
    SLEEPS_WRK[$name]+="$sleeps_wrk "
    echo "round $round $name: ${RPS[$name]} requests/s, $(awk -v u="$user" -v s="$system" 'BEGIN{printf "%.1f", u + s}') (user $user, system $system) us CPU per request ($([[ $name == direct ]] && echo "the mock" || echo "the proxy")), sleeps per request: wrk $sleeps_wrk, $([[ $name == direct ]] || echo "proxy $sleeps_proxy, ")mock $sleeps_mock$([[ $name == direct ]] || echo "; proxy preempted $preempted") $(echo "$out" | grep -E 'Non-2xx|Socket errors' | tr '\n' ' ')"
  done
  ratios+=("$(awk -v g="${RPS[gateway]}" -v n="${RPS[nginx]}" 'BEGIN{printf "%.3f", g/n}')")
done
# Shared machines swing by tens of percent between seconds: the figure is the
# median of each round's gateway / nginx, measured seconds apart.
for name in direct nginx gateway; do RPS[$name]=$(echo "${SAMPLES[$name]}" | tr ' ' '\n' | grep . | median); done
echo "gateway / nginx per round: ${ratios[*]}"
echo "gateway / nginx: $(printf '%s\n' "${ratios[@]}" | median) (median of $ROUNDS); medians: direct ${RPS[direct]}, nginx ${RPS[nginx]}, gateway ${RPS[gateway]} requests/s"
cpu_medians() { echo "user $(echo "${USER_US[$1]}" | tr ' ' '\n' | grep . | median), system $(echo "${SYSTEM_US[$1]}" | tr ' ' '\n' | grep . | median)"; }
echo "CPU per request (medians, us): nginx $(cpu_medians nginx); gateway $(cpu_medians gateway)"
sleep_median() { local -n list=$1; echo "${list[$2]}" | tr ' ' '\n' | grep . | median; }
echo "sleeps per request (medians): direct: wrk $(sleep_median SLEEPS_WRK direct), mock $(sleep_median SLEEPS_MOCK direct); nginx: wrk $(sleep_median SLEEPS_WRK nginx), proxy $(sleep_median SLEEPS_PROXY nginx), mock $(sleep_median SLEEPS_MOCK nginx); gateway: wrk $(sleep_median SLEEPS_WRK gateway), proxy $(sleep_median SLEEPS_PROXY gateway), mock $(sleep_median SLEEPS_MOCK gateway)"
echo "proxy preempted per request (medians): nginx $(sleep_median PREEMPTED_PROXY nginx); gateway $(sleep_median PREEMPTED_PROXY gateway)"

echo
half=$(awk -v g="${RPS[gateway]}" 'BEGIN{printf "%d", g/2}')
pace=$(awk -v g="${RPS[gateway]}" 'BEGIN{printf "%.3f", 64/(g/2)*1000}')
echo "== 2. latency at half the gateway's saturating rate: ~$half requests/s (64 connections, each pausing ${pace} ms on average), $ROUNDS round(s) of direct, nginx, gateway in turn"
: > "$work/latency"
for round in $(seq "$ROUNDS"); do
  for name in direct nginx gateway; do
    case $name in direct) url=$mock;; nginx) url=$nginx_url;; gateway) url=$gw_url;; esac
    out=$(PACE_MS=$pace "${WRK[@]}" -t1 -c64 -d"$DURATION" --latency -s bench/wrk_chat_paced.lua "$url")
    p50=$(echo "$out" | awk '$1=="50%"{print $2}' | us)
    p99=$(echo "$out" | awk '$1=="99%"{print $2}' | us)
    echo "$round $name $p50 $p99" >> "$work/latency"
    echo "round $round $name: $(echo "$out" | rps) requests/s, p50 ${p50} us, p99 ${p99} us"
  done
done
# What a proxy adds: its figure minus direct's in the same round, then the
# median over the rounds.
# added NAME COLUMN: column 3 is p50, 4 is p99.
added() { awk -v n="$1" -v c="$2" '$2=="direct"{d[$1]=$c} $2==n{t[$1]=$c} END{for (r in t) print t[r]-d[r]}' "$work/latency" | median; }
for name in direct nginx gateway; do
  echo "$name: p50 $(awk -v n="$name" '$2==n{print $3}' "$work/latency" | median) us, p99 $(awk -v n="$name" '$2==n{print $4}' "$work/latency" | median) us (medians);" \
       "added over direct: p50 $(added "$name" 3) us, p99 $(added "$name" 4) us (median of $ROUNDS per-round differences)"
done
fi
[[ $PARTS == *3* ]] || exit 0
[[ ${MOCK_KIND:-sluice} == sluice ]] || { echo "part 3 streams: the static mock does not stream (MOCK_KIND=$MOCK_KIND)"; exit 0; }

echo
echo "== 3. $STREAMS concurrent streaming responses (100 tokens, one every 300 ms: 30 s each)"
curl -sf "$mock/mock/config" -d '{"limitsEnabled":false,"latency":{"baseMs":0,"firstTokenMs":20,"perOutputTokenMs":300}}' > /dev/null
for name in nginx gateway; do
  case $name in nginx) url=$nginx_url; pid=$nginx_worker;; gateway) url=$gw_url; pid=$gw_pid;; esac
  before=$(rss_kb "$pid")
  node tests/sdk/hold_streams.mjs "$url" "$STREAMS" > "$work/streams.out" &
  node_pid=$!
  for _ in $(seq 600); do grep -q '^held' "$work/streams.out" && break; sleep 0.1; done
  held=$(grep -c '^held' "$work/streams.out" || true)
  during=$(rss_kb "$pid")
  wait "$node_pid"
  echo "$name: held=$held ($(grep '^done' "$work/streams.out")); RSS ${before} kB idle -> ${during} kB with $STREAMS streams:" \
       "$(awk -v a="$before" -v b="$during" -v n="$STREAMS" 'BEGIN{printf "%.1f", (b-a)/n}') kB per connection"
done
