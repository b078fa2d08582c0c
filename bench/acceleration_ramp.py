#!/usr/bin/env python3
"""Ramping up after idle against acceleration limits: the real `sluice-cli
batch` against the real `sluice-cli mock`, an Anthropic model whose requests
are limited per second (RPM, bucket of RPM/60) and, after idle, by an
acceleration limit (the mock's "acceleration": a ramp from START x the limit
to the whole limit over RAMP seconds). Two cells side by side, each its own
mock and batch: Sluice as shipped (ramp_after_idle on by default for
Anthropic) and with "ramp_after_idle": false (jumping to the full rate).
The whole demand (1.5x what the limit carries, plus a minute) is queued at
once, so the first second is a rise from idle.

Measured by each mock's own counters (GET /mock/stats): 429s over all
requests, 429s in the first RAMP seconds, and the accepted requests in mock
seconds [STEADY_FROM, SECONDS - 5) against what the limit allows in them.

    bench/acceleration_ramp.py [--build build/release] [--seconds 90] [--rpm 600]
                               [--ramp 30] [--start 0.25] [--steady-from 40]

Only loopback traffic; every process it starts is stopped before it exits.
"""
import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from limits_matrix import mock_url  # noqa: E402

MODEL = "claude-haiku-4-5"


def start_mock(cli, tmp, name, a):
    cfg = {
        "latency": {"baseMs": 300, "perOutputTokenMs": 0},
        "output": {"distribution": "fixed", "mean": 20},
        "models": {MODEL: {"flavor": "anthropic", "limits": {
            "rpm": a.rpm, "itpm": a.rpm * 1000, "otpm": a.rpm * 1000, "granularity": "1s",
            "acceleration": {"idle": "60s", "ramp": f"{a.ramp}s", "start": a.start}}}},
    }
    path = os.path.join(tmp, f"{name}.mock.json")
    with open(path, "w") as f:
        json.dump(cfg, f)
    out = open(os.path.join(tmp, f"{name}.mock.out"), "w+")
    proc = subprocess.Popen([cli, "mock", "--config", path, "--listen", "127.0.0.1:0"],
                            stdout=out, stderr=subprocess.STDOUT)
    return proc, out


def write_batch(tmp, name, url, a, ramp_setting):
    provider = {"name": "mock", "flavor": "anthropic", "base_url": url,
                "models": {MODEL: {"limits": {"rpm": a.rpm}}},
                "keys": [{"name": "k", "env": "MOCK_API_KEY"}]}
    if ramp_setting is not None:
        provider["ramp_after_idle"] = ramp_setting
    cfg = {"providers": [provider], "retry": {"max_attempts": 50, "base_delay_s": 0.5, "max_delay_s": 8}}
    cfg_path = os.path.join(tmp, f"{name}.config.json")
    with open(cfg_path, "w") as f:
        json.dump(cfg, f)
    jobs = int(a.rpm * (1.5 * a.seconds / 60 + 1))
    in_path = os.path.join(tmp, f"{name}.in.jsonl")
    with open(in_path, "w") as f:
        for k in range(jobs):
            f.write(json.dumps({"custom_id": f"{name}-{k}", "method": "POST", "url": "/v1/messages",
                                "body": {"model": MODEL, "max_tokens": 50,
                                         "messages": [{"role": "user", "content": f"Request {k}, briefly."}]}}) + "\n")
    return cfg_path, in_path


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", default="build/release")
    ap.add_argument("--seconds", type=float, default=90)
    ap.add_argument("--rpm", type=int, default=600)
    ap.add_argument("--ramp", type=int, default=30)
    ap.add_argument("--start", type=float, default=0.25)
    ap.add_argument("--steady-from", type=int, default=40)
    a = ap.parse_args()
    cli = os.path.abspath(os.path.join(a.build, "app", "sluice-cli"))
    tmp = tempfile.mkdtemp(prefix="sluice-accel-")
    cells = [("shipped", None), ("no-ramp", False)]
    procs, running = [], []
    try:
        for name, _ in cells:
            mock, out = start_mock(cli, tmp, name, a)
            procs.append(mock)
            running.append([name, out])
        urls = [mock_url(out) for _, out in running]
        env = dict(os.environ, MOCK_API_KEY="sk-mock")
        for (name, setting), url in zip(cells, urls):
            cfg_path, in_path = write_batch(tmp, name, url, a, setting)
            log = open(os.path.join(tmp, f"{name}.batch.log"), "w")
            procs.append(subprocess.Popen([cli, "batch", "--config", cfg_path, "--input", in_path,
                                           "--output", os.path.join(tmp, f"{name}.out.jsonl"),
                                           "--state", os.path.join(tmp, f"{name}.db"), "--progress", "never"],
                                          stdout=log, stderr=subprocess.STDOUT, env=env))
        time.sleep(a.seconds)
        end = int(a.seconds) - 5
        print(f"acceleration: idle 60 s, ramp {a.ramp} s from {a.start:g}; {a.rpm} RPM per second; {a.seconds:g} s")
        print("| Sluice | requests | 429s | 429s in the first ramp | steady % of the limit |")
        print("|---|---|---|---|---|")
        for (name, _), url in zip(cells, urls):
            with urllib.request.urlopen(url + "/mock/stats", timeout=10) as r:
                s = json.load(r)
            series = {p["t"]: p for p in s["series"]}
            limited = sum(p["rateLimited"] for p in s["series"])
            early = sum(series[t]["rateLimited"] for t in range(0, a.ramp) if t in series)
            steady = sum(series[t]["accepted"] for t in range(a.steady_from, end) if t in series)
            share = 100.0 * steady / (a.rpm * (end - a.steady_from) / 60)
            print(f"| {name} | {s['requests']} | {limited} ({100.0 * limited / max(1, s['requests']):.2f}%) | "
                  f"{early} | {share:.1f}% |")
    finally:
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()


if __name__ == "__main__":
    main()
