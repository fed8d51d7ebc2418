#!/usr/bin/env python3
"""bench-paired.py RESULTS_DIR: the report of scripts/bench-paired.sh (make bench).

For each scenario and reference, the runs of one round form a pair (lbd's run,
the reference's run in the same round); the ratio lbd / reference per pair
gives a median and an inter-quartile range (IQR). A verdict says "better" or
"worse" only when the whole IQR is on one side of 1.0; otherwise "not
distinguishable". CPU per request: lower is better, so lbd is better when the
IQR of lbd / reference is below 1.0. Requests/s: higher is better. p99
latency (wrk's, per run): the ratio lbd / reference per pair too, lower is
better; a pair where either run has no p99 (0: wrk failed) is left out of
it. The last
table compares lbd with the better reference per scenario (the one with the
lower median CPU per request). With PIN=split a table of the load side
follows: CPU 0's busy time per request (wrk and the members, pinned there)
and its steal, per proxy; a proxy that leaves the load side more work per
request delivers fewer requests/s wherever CPU 0 is the limit. Standard
library only."""
import csv
import statistics
import sys
from collections import defaultdict


def quartiles(xs):
    """Median and the 25th and 75th percentiles, linearly interpolated
    between the sorted values (as numpy's default and statistics'
    'inclusive' method do)."""
    xs = sorted(xs)
    if len(xs) == 1:
        return xs[0], xs[0], xs[0]

    def q(p):
        k = (len(xs) - 1) * p
        lo = int(k)
        hi = min(lo + 1, len(xs) - 1)
        return xs[lo] + (xs[hi] - xs[lo]) * (k - lo)

    return q(0.5), q(0.25), q(0.75)


def verdict(lo, hi, lower_is_better):
    if lo <= 1.0 <= hi:
        return "not distinguishable"
    below = hi < 1.0
    return "**better**" if below == lower_is_better else "**worse**"


def main():
    if len(sys.argv) != 2:
        print(__doc__)
        sys.exit(2)
    d = sys.argv[1]
    runs = defaultdict(dict)  # (scenario, proxy) -> round -> row
    scenarios, proxies = [], []
    with open(f"{d}/runs.tsv") as f:
        for r in csv.DictReader(f, delimiter="\t"):
            runs[(r["scenario"], r["proxy"])][int(r["round"])] = r
            if r["scenario"] not in scenarios:
                scenarios.append(r["scenario"])
            if r["proxy"] not in proxies:
                proxies.append(r["proxy"])
    try:
        with open(f"{d}/meta.txt") as f:
            meta = f.read().strip().splitlines()
    except OSError:
        meta = []
    refs = [p for p in proxies if p != "lbd"]
    for line in meta:
        print(f"- {line}")
    print()
    print("Per pair: ratio lbd ÷ reference of two runs in the same round. Median [inter-quartile range]"
          " of those ratios; a verdict only when the whole IQR is on one side of 1.0.")
    print()
    print("| scenario | reference | pairs | req/s lbd / ref (medians) | req/s lbd ÷ ref | throughput |"
          " µs/req lbd / ref (medians) | CPU/req lbd ÷ ref | CPU per request | p99 ms lbd / ref | p99 lbd ÷ ref | p99 |"
          " peak RSS MiB lbd / ref | load average |")
    print("|---|---|---:|---:|---:|---|---:|---:|---|---:|---:|---|---:|---:|")
    best = {}
    for s in scenarios:
        lbd = runs.get((s, "lbd"), {})
        for ref in refs:
            other = runs.get((s, ref), {})
            rounds = sorted(k for k in lbd if k in other)
            ok = [k for k in rounds if float(lbd[k]["rps"]) > 0 and float(other[k]["rps"]) > 0
                  and float(lbd[k]["us_per_req"]) > 0 and float(other[k]["us_per_req"]) > 0]
            if not ok:
                continue
            rr = [float(lbd[k]["rps"]) / float(other[k]["rps"]) for k in ok]
            cr = [float(lbd[k]["us_per_req"]) / float(other[k]["us_per_req"]) for k in ok]
            rm, rlo, rhi = quartiles(rr)
            cm, clo, chi = quartiles(cr)
            pk = [k for k in ok if float(lbd[k]["p99_ms"]) > 0 and float(other[k]["p99_ms"]) > 0]
            p99 = "– | –"
            if pk:
                pm, plo, phi = quartiles([float(lbd[k]["p99_ms"]) / float(other[k]["p99_ms"]) for k in pk])
                p99 = f"{pm:.3f} [{plo:.3f}–{phi:.3f}] | {verdict(plo, phi, True)}"

            def med(rows, field):
                return statistics.median(float(rows[k][field]) for k in ok)

            errs = sum(int(float(lbd[k]["errors"])) + int(float(other[k]["errors"])) for k in ok)
            load = statistics.median(float(lbd[k]["load1"]) for k in ok)
            row = dict(ref=ref, n=len(ok), rm=rm, rlo=rlo, rhi=rhi, cm=cm, clo=clo, chi=chi,
                       ref_us=med(other, "us_per_req"))
            # "base" is another lbd build (an A/B run), not a reference.
            if ref != "base" and (s not in best or row["ref_us"] < best[s]["ref_us"]):
                best[s] = row
            note = f" ({errs} errors)" if errs else ""
            print(f"| {s} | {ref} | {len(ok)} | {med(lbd, 'rps'):.0f} / {med(other, 'rps'):.0f} | "
                  f"{rm:.3f} [{rlo:.3f}–{rhi:.3f}] | {verdict(rlo, rhi, False)} | "
                  f"{med(lbd, 'us_per_req'):.2f} / {med(other, 'us_per_req'):.2f} | "
                  f"{cm:.3f} [{clo:.3f}–{chi:.3f}] | {verdict(clo, chi, True)}{note} | "
                  f"{med(lbd, 'p99_ms'):.2f} / {med(other, 'p99_ms'):.2f} | {p99} | "
                  f"{max(int(lbd[k]['peak_rss_kb']) for k in ok) / 1024:.1f} / "
                  f"{max(int(other[k]['peak_rss_kb']) for k in ok) / 1024:.1f} | {load:.1f} |")
    if len([r for r in refs if r != "base"]) > 1 and best:
        print()
        print("lbd beside the better reference (the one with the lower median CPU per request):")
        print()
        print("| scenario | better reference | CPU/req lbd ÷ it | CPU per request | req/s lbd ÷ it | throughput |")
        print("|---|---|---:|---|---:|---|")
        for s in scenarios:
            b = best.get(s)
            if not b:
                continue
            print(f"| {s} | {b['ref']} | {b['cm']:.3f} [{b['clo']:.3f}–{b['chi']:.3f}] | "
                  f"{verdict(b['clo'], b['chi'], True)} | {b['rm']:.3f} [{b['rlo']:.3f}–{b['rhi']:.3f}] | "
                  f"{verdict(b['rlo'], b['rhi'], False)} |")
    load_side(scenarios, refs, runs, meta)


def load_side(scenarios, refs, runs, meta):
    """CPU 0 per request under lbd ÷ under each reference (runs.tsv's
    cpu0_us_per_req, recorded since this column was added)."""
    if not any(line.startswith("pin: split") for line in meta):
        return
    rows = []
    for s in scenarios:
        lbd = runs.get((s, "lbd"), {})
        for ref in refs:
            other = runs.get((s, ref), {})
            ok = [k for k in sorted(lbd) if k in other
                  and float(lbd[k].get("cpu0_us_per_req") or 0) > 0
                  and float(other[k].get("cpu0_us_per_req") or 0) > 0]
            if not ok:
                continue
            m, lo, hi = quartiles([float(lbd[k]["cpu0_us_per_req"]) / float(other[k]["cpu0_us_per_req"])
                                   for k in ok])

            def med(rs, field):
                return statistics.median(float(rs[k][field]) for k in ok)

            rows.append(f"| {s} | {ref} | {med(lbd, 'cpu0_us_per_req'):.2f} / {med(other, 'cpu0_us_per_req'):.2f} | "
                        f"{m:.3f} [{lo:.3f}–{hi:.3f}] | {verdict(lo, hi, True)} | "
                        f"{med(lbd, 'cpu0_steal_pct'):.1f} / {med(other, 'cpu0_steal_pct'):.1f} |")
    if not rows:
        return
    print()
    print("The load side: CPU 0 (wrk and the members) busy per request behind each proxy, and its steal:")
    print()
    print("| scenario | reference | CPU 0 µs/req lbd / ref (medians) | lbd ÷ ref | load side | CPU 0 steal % lbd / ref |")
    print("|---|---|---:|---:|---|---:|")
    for r in rows:
        print(r)


if __name__ == "__main__":
    main()
