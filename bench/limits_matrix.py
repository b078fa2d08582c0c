#!/usr/bin/env python3
"""The limits matrix: the real `sluice-cli batch` against the real `sluice-cli
mock`, one pair of processes per cell, every cell at once.

Cells: enforcement {per-second bucket, per-minute fixed window, sliding
window of 60 s, sliding window of 1 s (RPM/60 in any second), fixed window
of 1 s (RPM/60, rounded up, per second counted from the key's first
request; not in the default set)} x tier {3, 50, 500, 5000 RPM, TPM 200 per request} x the
mock's rate-limit headers {on, off}. Sluice is configured with the limits
page's numbers only (rpm and tpm, no granularity, no concurrency), and the
whole run's demand (1.5x what the limit carries, plus one window) is queued
at once. Each cell runs SECONDS (default 185) and is then stopped.

Measured by the mock's own counters (GET /mock/stats):
  - 429 %: requests answered 429 over all requests, from the first one on;
  - steady %: requests accepted in mock seconds [60, 180) (--steady) over
    what the limit allows in them (2 x RPM: two windows, or 120 s of refill). The
    fixed windows start at the key's first request, a few hundred ms after
    the mock, so [60, 180) holds two whole windows and two small edges.
  - first 10 s: 429s in the mock's first ten seconds (a start-up storm).

    bench/limits_matrix.py [--build build/release] [--seconds 185]
                           [--only bucket,fixed,sliding,sliding1s,fixed1s] [--tiers 3,50,500,5000]
                           [--headers on,off] [--latency-ms 500] [--steady 60,180]
                           [--parallel N]

Only loopback traffic; every process it starts is stopped before it exits.
"""
import argparse
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request

ENFORCEMENT = {
    "bucket": {"granularity": "1s"},
    "fixed": {"granularity": "1m", "enforcement": "fixed_window"},
    "sliding": {"granularity": "1m", "enforcement": "sliding_window"},
    "sliding1s": {"granularity": "1s", "enforcement": "sliding_window"},
    "fixed1s": {"granularity": "1s", "enforcement": "fixed_window"},
}
LABEL = {"bucket": "per-second bucket", "fixed": "per-minute fixed window", "sliding": "sliding window 60 s",
         "sliding1s": "sliding window 1 s", "fixed1s": "fixed window 1 s"}
TOKENS_PER_REQUEST = 200  # TPM = RPM x this; requests charge ~130, so RPM binds
MAX_TOKENS = 100


def start_mock(cli, tmp, name, enforcement, rpm, headers, latency_ms):
    limits = dict(ENFORCEMENT[enforcement])
    limits.update({"rpm": rpm, "tpm": rpm * TOKENS_PER_REQUEST})
    cfg = {
        "rateLimitHeaders": headers,
        "latency": {"baseMs": latency_ms, "perOutputTokenMs": 0},
        "output": {"distribution": "fixed", "mean": 20},
        "models": {"gpt-4o-mini": {"flavor": "openai", "limits": limits}},
    }
    path = os.path.join(tmp, f"{name}.mock.json")
    with open(path, "w") as f:
        json.dump(cfg, f)
    out = open(os.path.join(tmp, f"{name}.mock.out"), "w+")
    proc = subprocess.Popen([cli, "mock", "--config", path, "--listen", "127.0.0.1:0"],
                            stdout=out, stderr=subprocess.STDOUT)
    return proc, out


def mock_url(out):
    for _ in range(200):
        out.seek(0)
        m = re.search(r"listening on (http://127\.0\.0\.1:\d+)", out.read())
        if m:
            return m.group(1)
        time.sleep(0.05)
    raise RuntimeError("the mock did not say where it listens: " + out.name)


def write_batch(tmp, name, url, rpm, seconds):
    cfg = {
        "providers": [{
            "name": "mock", "flavor": "openai", "base_url": url,
            "models": {"gpt-4o-mini": {"limits": {"rpm": rpm, "tpm": rpm * TOKENS_PER_REQUEST}}},
            "keys": [{"name": "k", "env": "MOCK_API_KEY"}],
        }],
        "retry": {"max_attempts": 50, "base_delay_s": 0.5, "max_delay_s": 8},
    }
    cfg_path = os.path.join(tmp, f"{name}.config.json")
    with open(cfg_path, "w") as f:
        json.dump(cfg, f)
    jobs = int(rpm * (1.5 * seconds / 60 + 1)) + 2
    in_path = os.path.join(tmp, f"{name}.in.jsonl")
    with open(in_path, "w") as f:
        for k in range(jobs):
            f.write(json.dumps({
                "custom_id": f"{name}-{k}", "method": "POST", "url": "/v1/chat/completions",
                "body": {"model": "gpt-4o-mini", "max_tokens": MAX_TOKENS,
                         "messages": [{"role": "user", "content": f"Request {k}: summarise the limits matrix "
                                       "cell in one short sentence, please, for the benchmark log."}]},
            }) + "\n")
    return cfg_path, in_path


def stats(url):
    with urllib.request.urlopen(url + "/mock/stats", timeout=10) as r:
        return json.load(r)


def summarise(s, rpm, start, end):
    requests = s["requests"]
    limited = sum(v for k, v in s["rateLimited"].items() if k not in ("quotaExhausted",))
    series = {p["t"]: p for p in s["series"]}
    steady = sum(series[t]["accepted"] for t in range(start, end) if t in series)
    early = sum(series[t]["rateLimited"] for t in range(0, 10) if t in series)
    return {
        "requests": requests,
        "rate_limited": limited,
        "limited_pct": 100.0 * limited / requests if requests else 0.0,
        "steady_accepted": steady,
        "steady_pct": 100.0 * steady / (rpm * (end - start) / 60),
        "first10_429": early,
        "errors": s["errors"],
    }


def run_cells(cli, tmp, cells, a, start, end):
    """Runs `cells` at once for a.seconds; returns their figures."""
    procs = []
    running = []
    try:
        for e, rpm, headers in cells:
            name = f"{e}-{rpm}-{'h' if headers else 'n'}"
            mock, out = start_mock(cli, tmp, name, e, rpm, headers, a.latency_ms)
            procs.append(mock)
            running.append([name, e, rpm, headers, mock, out, None])
        for cell in running:
            cell[5] = mock_url(cell[5])
        env = dict(os.environ, MOCK_API_KEY="sk-mock")
        for cell in running:
            name, e, rpm = cell[0], cell[1], cell[2]
            cfg_path, in_path = write_batch(tmp, name, cell[5], rpm, a.seconds)
            log = open(os.path.join(tmp, f"{name}.batch.log"), "w")
            batch = subprocess.Popen([cli, "batch", "--config", cfg_path, "--input", in_path,
                                      "--output", os.path.join(tmp, f"{name}.out.jsonl"),
                                      "--state", os.path.join(tmp, f"{name}.db"), "--progress", "never"],
                                     stdout=log, stderr=subprocess.STDOUT, env=env)
            procs.append(batch)
            cell[6] = batch
        time.sleep(a.seconds)
        results = []
        for name, e, rpm, headers, mock, url, batch in running:
            if batch.poll() is not None:
                print(f"warning: {name}: sluice-cli batch ended early (status {batch.returncode}); "
                      f"see {tmp}/{name}.batch.log", file=sys.stderr)
            r = summarise(stats(url), rpm, start, end)
            r.update({"cell": name, "enforcement": e, "rpm": rpm, "headers": headers})
            results.append(r)
    finally:
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        deadline = time.time() + 10
        for p in procs:
            try:
                p.wait(timeout=max(0.1, deadline - time.time()))
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
    return results


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", default="build/release")
    ap.add_argument("--seconds", type=float, default=185)
    ap.add_argument("--only", default="bucket,fixed,sliding,sliding1s")
    ap.add_argument("--tiers", default="3,50,500,5000")
    ap.add_argument("--headers", default="on,off")
    ap.add_argument("--latency-ms", type=float, default=500)
    ap.add_argument("--steady", default="60,180", help="the mock seconds [FROM,TO) the steady share is measured over")
    ap.add_argument("--parallel", type=int, default=0,
                    help="cells run at once (default: all); the rest wait for the next round")
    ap.add_argument("--json", help="also write the cells' figures to this file")
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory")
    a = ap.parse_args()
    start, end = (int(x) for x in a.steady.split(","))
    if not 0 <= start < end <= a.seconds:
        sys.exit(f"--steady {a.steady}: must be FROM,TO with 0 <= FROM < TO <= --seconds")
    cli = os.path.join(a.build, "app", "sluice-cli")
    if not os.access(cli, os.X_OK):
        sys.exit(f"{cli}: not found (build the sluice-cli target)")
    only, tiers, headers = a.only.split(","), a.tiers.split(","), a.headers.split(",")
    for e in only:
        if e not in ENFORCEMENT:
            sys.exit(f"--only {a.only}: unknown enforcement {e!r} (one of {', '.join(ENFORCEMENT)})")
    for t in tiers:
        if not t.isdigit() or int(t) < 1:
            sys.exit(f"--tiers {a.tiers}: {t!r} is not a positive whole number of requests per minute")
    for h in headers:
        if h not in ("on", "off"):
            sys.exit(f"--headers {a.headers}: {h!r} is neither on nor off")
    tmp = tempfile.mkdtemp(prefix="limits_matrix.")
    cells = [(e, int(t), h == "on") for e in only for t in tiers for h in headers]
    results = []
    step = a.parallel if a.parallel > 0 else len(cells)
    for i in range(0, len(cells), step):
        results += run_cells(cli, tmp, cells[i:i + step], a, start, end)
    print(f"| enforcement | RPM | headers | requests | 429s | 429 % | first 10 s 429s | steady % of limit |")
    print("|---|---|---|---|---|---|---|---|")
    for r in results:
        print(f"| {LABEL[r['enforcement']]} | {r['rpm']} | {'on' if r['headers'] else 'off'} | {r['requests']} | "
              f"{r['rate_limited']} | {r['limited_pct']:.2f}% | {r['first10_429']} | {r['steady_pct']:.1f}% |")
    if a.json:
        with open(a.json, "w") as f:
            json.dump(results, f, indent=1)
    if a.keep:
        print("kept", tmp, file=sys.stderr)
    else:
        subprocess.run(["rm", "-rf", tmp])


if __name__ == "__main__":
    main()
