#!/usr/bin/env python3
# analyze.py RUNDIR: the summary of one bench/foreign_hold.sh run, as one JSON line (also RUNDIR/summary.json)
import csv, json, sys, collections, re, os
D = sys.argv[1]
cfg = json.load(open(f'{D}/config.json'))
first = open(f'{D}/provider.out').readline().split()
mode = first[1]; rpm = int(first[2].split('=')[1]); tpm = int(first[3].split('=')[1])
drv = json.load(open(f'{D}/driver.json'))
rows = list(csv.DictReader(open(f'{D}/provider.csv')))
cl = list(csv.DictReader(open(f'{D}/clients.csv')))
cstart = min(int(r['t0']) for r in cl) / 1000
drive_end = cstart + drv['seconds']
arr = [(float(r['t_arrival']), int(r['status']), int(r['charged']), float(r['t_done'])) for r in rows]
t0 = min(a[0] for a in arr)
tokens = mode in ('tpm1s', 'tpmbucket', 'tpm60')
limit_per_s = (tpm if tokens else rpm) / 60
n429 = sum(1 for a in arr if a[1] == 429)
def amount_in(lo, hi):
    s = 0
    for ta, st, ch, td in arr:
        if st != 200: continue
        t = td if mode == 'tpmbucket' else ta
        if lo <= t < hi: s += ch if tokens else 1
    return s
whole = amount_in(t0, drive_end) / (limit_per_s * (drive_end - t0))
after = amount_in(t0 + 5, drive_end) / (limit_per_s * (drive_end - t0 - 5))
# after what a learning step (RefundProbe: ~25 s) takes, in runs long enough for it
after30 = amount_in(t0 + 30, drive_end) / (limit_per_s * (drive_end - t0 - 30)) if drive_end - t0 > 45 else None
# after what learning the output of requests without max_tokens takes (RefundProbe, then
# UnstatedOutputProbe: ~105 s)
after120 = amount_in(t0 + 120, drive_end) / (limit_per_s * (drive_end - t0 - 120)) if drive_end - t0 > 180 else None
# per-second series (relative to t0)
per_s = collections.Counter()
for ta, st, ch, td in arr:
    if st == 200:
        t = td if mode == 'tpmbucket' else ta
        per_s[int(t - t0)] += ch if tokens else 1
secs = [per_s[i] / limit_per_s for i in range(5, int(drive_end - t0))]
when429 = collections.Counter(int(a[0] - t0) for a in arr if a[1] == 429)
res = dict(run=os.path.basename(D), mode=mode, rpm=rpm, tpm=tpm, binding='tpm' if tokens else 'rpm',
           client_completed=drv['completed'], client_failed=drv['failed'], client_failed429=drv['failed429'],
           client_raw429=drv['raw429'], client_statuses=drv['statuses'],
           prov_arrivals=len(arr), prov_429=n429, prov_429_pct=round(100 * n429 / max(1, len(arr)), 3),
           tput_whole_pct=round(100 * whole, 2), tput_after5s_pct=round(100 * after, 2),
           tput_after30s_pct=round(100 * after30, 2) if after30 is not None else None,
           tput_after120s_pct=round(100 * after120, 2) if after120 is not None else None,
           per_s_min_pct=round(100 * min(secs), 1) if secs else None, per_s_max_pct=round(100 * max(secs), 1) if secs else None,
           p50_ms=drv['p50_ms'], p95_ms=drv['p95_ms'], drive_s=round(drive_end - t0, 1),
           prov_429_by_second=dict(sorted(when429.items())))
if mode in ('rpm60', 'tpm60'):
    ts = sorted((a[0], a[2] if tokens else 1) for a in arr if a[1] == 200); j = 0; best = 0; acc = 0
    for i, (t, c) in enumerate(ts):
        acc += c
        while ts[j][0] <= t - 60: acc -= ts[j][1]; j += 1
        best = max(best, acc)
    res['max_in_any_60s'] = best
print(json.dumps(res))
json.dump(res, open(f'{D}/summary.json', 'w'))
