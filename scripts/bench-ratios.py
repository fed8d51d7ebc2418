#!/usr/bin/env python3
"""bench-ratios.py RESULTS_DIR [MAX_FOREIGN]: issue 10's figure from a
../shared/bench/bench.sh run: for every scenario, each lbd variant's median
divided by the better of HAProxy's and nginx's (req/s; MB/s for http_1m;
for http_rate, p50 and p99 latency against HAProxy's, lower is better).
Uses only runs whose foreign CPU stayed at or below MAX_FOREIGN % (10)."""
import csv
import statistics
import sys
from collections import defaultdict

results, maxf = sys.argv[1], float(sys.argv[2]) if len(sys.argv) > 2 else 10.0
runs = defaultdict(list)
scenarios, proxies = [], []
with open(f"{results}/runs.tsv") as f:
    for r in csv.DictReader(f, delimiter="\t"):
        runs[(r["scenario"], r["proxy"])].append(r)
        if r["scenario"] not in scenarios:
            scenarios.append(r["scenario"])
        if r["proxy"] not in proxies:
            proxies.append(r["proxy"])


def median(scenario, proxy, field):
    rows = runs.get((scenario, proxy), [])
    quiet = [r for r in rows if float(r.get("foreign_cpu_pct") or 0) <= maxf] or rows
    vals = [float(r[field]) for r in quiet if r.get(field) not in (None, "", "-")]
    return statistics.median(vals) if vals else None


lbds = [p for p in proxies if p.startswith("lbd")]
print("| scenario | measure | best reference | " + " | ".join(f"{p} ÷ best" for p in lbds) + " |")
print("|---|---|---|" + "---:|" * len(lbds))
for s in scenarios:
    if s == "http_rate":
        for field in ("p50_ms", "p99_ms"):
            h = median(s, "haproxy", field)
            cells = [f"{median(s, p, field) / h:.2f}" if h and median(s, p, field) else "–" for p in lbds]
            print(f"| {s} | {field[:3]} latency (lower is better) | haproxy {h} ms | " + " | ".join(cells) + " |")
        continue
    field = "MBps" if s == "http_1m" else "rps"
    refs = {p: median(s, p, field) for p in ("haproxy", "nginx") if median(s, p, field)}
    if not refs:
        continue
    best = max(refs, key=refs.get)
    cells = [f"**{median(s, p, field) / refs[best]:.2f}**" if median(s, p, field) else "–" for p in lbds]
    print(f"| {s} | {field} | {best} {refs[best]:.0f} | " + " | ".join(cells) + " |")
