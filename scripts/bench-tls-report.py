#!/usr/bin/env python3
"""Summarizes scripts/bench-tls.sh's runs.tsv: per scenario and proxy the
median rps, its spread ((max-min)/median), the median rate per core of the
proxy's CPU and its median CPU use; then lbd ÷ the better of HAProxy and
nginx, computed per repeat (the runs of one repeat ran back to back) and
given as the median with its range, for rps and for the per-core rate."""
import csv
import statistics
import sys
from collections import defaultdict

rows = list(csv.DictReader(open(sys.argv[1]), delimiter="\t"))
by = defaultdict(list)
reps = defaultdict(dict)
order = []
for r in rows:
    key = (r["scenario"], r["proxy"])
    if r["scenario"] not in order:
        order.append(r["scenario"])
    by[key].append(r)
    reps[(r["scenario"], r["rep"])][r["proxy"]] = r

def med(xs):
    return statistics.median(xs) if xs else 0

print("| scenario | proxy | rps (median) | spread | per core | proxy CPU | max foreign CPU | errors |")
print("|---|---|---:|---:|---:|---:|---:|---:|")
for sc in order:
    for key in sorted(k for k in by if k[0] == sc):
        rs = by[key]
        rps = [float(r["rps"]) for r in rs]
        m = med(rps)
        spread = (max(rps) - min(rps)) / m * 100 if m else 0
        print(f"| {sc} | {key[1]} | {m:.0f} | {spread:.0f}% | {med([float(r['per_core']) for r in rs]):.0f} | "
              f"{med([float(r['proxy_cpu_pct']) for r in rs]):.0f}% | {max(float(r['foreign_cpu_pct']) for r in rs):.0f}% | "
              f"{sum(int(r['errors']) for r in rs)} |")
print()
print("lbd ÷ the better of HAProxy and nginx, paired per repeat (median [min–max] over repeats):")
print()
print("| scenario | rps ratio | per-core ratio | repeats |")
print("|---|---:|---:|---:|")
for sc in order:
    rr, cr = [], []
    for (s, rep), ps in sorted(reps.items()):
        if s != sc or "lbd" not in ps:
            continue
        others = [ps[p] for p in ("haproxy", "nginx") if p in ps]
        if not others:
            continue
        best = max(float(o["rps"]) for o in others)
        bestc = max(float(o["per_core"]) for o in others)
        if best > 0:
            rr.append(float(ps["lbd"]["rps"]) / best)
        if bestc > 0:
            cr.append(float(ps["lbd"]["per_core"]) / bestc)
    if rr:
        print(f"| {sc} | {med(rr):.2f} [{min(rr):.2f}–{max(rr):.2f}] | {med(cr):.2f} [{min(cr):.2f}–{max(cr):.2f}] | {len(rr)} |")

base = [sc for sc in order if any(s == sc and "lbd" in ps and "lbdbase" in ps for (s, _), ps in reps.items())]
if base:
    print()
    print("lbd ÷ lbdbase (the build before), paired per repeat (median [min–max] over repeats):")
    print()
    print("| scenario | rps ratio | per-core ratio | repeats |")
    print("|---|---:|---:|---:|")
    for sc in base:
        rr, cr = [], []
        for (s, rep), ps in sorted(reps.items()):
            if s != sc or "lbd" not in ps or "lbdbase" not in ps:
                continue
            b, n = ps["lbdbase"], ps["lbd"]
            if float(b["rps"]) > 0:
                rr.append(float(n["rps"]) / float(b["rps"]))
            if float(b["per_core"]) > 0:
                cr.append(float(n["per_core"]) / float(b["per_core"]))
        if rr:
            print(f"| {sc} | {med(rr):.2f} [{min(rr):.2f}–{max(rr):.2f}] | {med(cr):.2f} [{min(cr):.2f}–{max(cr):.2f}] | {len(rr)} |")
