#!/usr/bin/python3
"""Summaries of tempest runs for scripts/tempest.sh.

summary.py [--json OUT] TARGET RUN.subunit
    pass/fail/skip per test module of one run; OUT gets every test's status
    and a one-line reason (the last line of its traceback, or the skip reason).
summary.py --compare BASELINE.json OTHER.json
    per module, both runs side by side, then every test that passed in the
    baseline and did not pass in the other, with the other's reason.
summary.py --merge OUT.json IN.json...
    one result file from runs of parts of the suite (a later run's result
    for a test replaces an earlier one's), and its summary.
"""
import collections
import json
import re
import sys

MODULE = re.compile(r"octavia_tempest_plugin\.tests\.api\.v2\.(test_\w+)")


def module_of(test_id):
    m = MODULE.search(test_id)
    return m.group(1) if m else test_id


def short_id(test_id):
    """The test's name without its package and its [id-...] tags."""
    test_id = re.sub(r"\[.*\]$", "", test_id)
    return test_id.replace("octavia_tempest_plugin.tests.api.v2.", "")


def reason(status, details):
    text = ""
    for key in ("traceback", "reason"):
        part = details.get(key)
        if part is not None:
            text = "".join(chunk.decode("utf-8", "replace") for chunk in part.iter_bytes())
            break
    lines = [l.strip() for l in text.strip().splitlines() if l.strip()]
    if not lines:
        return ""
    last = lines[-1]
    # tempest's REST errors carry the body on the line after "Details:".
    for i, l in enumerate(lines):
        if l.startswith("tempest.lib.exceptions.") or l.startswith("testtools.matchers") \
                or l.startswith("AssertionError") or l.startswith("tempest.exceptions"):
            last = " ".join(lines[i:i + 2])
    return last[:300]


def read_subunit(path):
    import subunit
    import testtools

    results = {}

    def on_test(test):
        status = test["status"]
        if status in ("exists", "inprogress"):
            return
        results[test["id"]] = {"status": status, "reason": reason(status, test["details"])}

    with open(path, "rb") as f:
        stream = subunit.ByteStreamToStreamResult(f, non_subunit_name="stdout")
        result = testtools.StreamToDict(on_test)
        result.startTestRun()
        try:
            stream.run(result)
        finally:
            result.stopTestRun()
    return results


def kind(status):
    return {"success": "pass", "skip": "skip", "xfail": "pass"}.get(status, "fail")


def counts(results):
    per = collections.defaultdict(collections.Counter)
    for tid, r in results.items():
        per[module_of(tid)][kind(r["status"])] += 1
    return per


def print_one(target, results):
    per = counts(results)
    total = collections.Counter()
    print(f"\n{target}: pass/fail/skip per module")
    print(f"  {'module':<42} {'pass':>5} {'fail':>5} {'skip':>5}")
    for mod in sorted(per):
        c = per[mod]
        total.update(c)
        print(f"  {mod:<42} {c['pass']:>5} {c['fail']:>5} {c['skip']:>5}")
    print(f"  {'total':<42} {total['pass']:>5} {total['fail']:>5} {total['skip']:>5}")
    fails = [(tid, r) for tid, r in sorted(results.items()) if kind(r["status"]) == "fail"]
    if fails:
        print(f"\n{target}: failures")
        for tid, r in fails:
            print(f"  {short_id(tid)}: {r['reason']}")


def compare(base_path, other_path):
    with open(base_path) as f:
        base = json.load(f)
    with open(other_path) as f:
        other = json.load(f)
    bt, ot = base["target"], other["target"]
    pb, po = counts(base["results"]), counts(other["results"])
    print(f"\n{bt} vs {ot}: pass/fail/skip per module")
    print(f"  {'module':<42} {bt:>17} {ot:>17}")
    for mod in sorted(set(pb) | set(po)):
        b, o = pb[mod], po[mod]
        print(f"  {mod:<42} {b['pass']:>5}/{b['fail']:>4}/{b['skip']:>4}  {o['pass']:>5}/{o['fail']:>4}/{o['skip']:>4}")
    missing = []
    for tid, r in sorted(base["results"].items()):
        if kind(r["status"]) != "pass":
            continue
        o = other["results"].get(tid)
        if o is None or kind(o["status"]) != "pass":
            missing.append((tid, o))
    print(f"\npassed on {bt}, not on {ot}: {len(missing)}")
    causes = collections.Counter(cause(tid, o) for tid, o in missing)
    for c, n in causes.most_common():
        print(f"  {n:>4}  {c}")
    for tid, o in missing:
        st = "not run" if o is None else kind(o["status"])
        print(f"  {short_id(tid)} [{st}]: {'' if o is None else o['reason']}")


# Why lbd fails a test, by its failure: the statuses Octavia's no-op drivers
# report (docs/tempest.md; first: a PROXY pool's test failing on a status is
# a status), and the features lbd does not serve yet.
CAUSES = [
    ("no-op status expected (lbd reports live Octavia's)", r"'OFFLINE' != 'ONLINE'|to NO_MONITOR"),
    ("UDP (not built yet)", r"UDP|'UDP'"),
    ("L7 policies and rules", r"test_l7|L7 polic"),
    ("PROXY pools", r"PROXY|'PROXY'"),
    ("session persistence", r"session_persistence|cookie|source_IP"),
]


def cause(tid, o):
    text = tid + " " + ("" if o is None else o["reason"])
    for name, pattern in CAUSES:
        if re.search(pattern, text):
            return name
    return "other"


def main(argv):
    if argv[:1] == ["--compare"]:
        compare(argv[1], argv[2])
        return 0
    if argv[:1] == ["--merge"]:
        merged = {}
        for path in argv[2:]:
            with open(path) as f:
                doc = json.load(f)
            merged.setdefault("target", doc["target"])
            merged.setdefault("results", {}).update(doc["results"])
        with open(argv[1], "w") as f:
            json.dump(merged, f, indent=1, sort_keys=True)
        print_one(merged["target"], merged["results"])
        return 0
    out = None
    if argv[:1] == ["--json"]:
        out, argv = argv[1], argv[2:]
    target, path = argv
    results = read_subunit(path)
    print_one(target, results)
    if out:
        with open(out, "w") as f:
            json.dump({"target": target, "results": results}, f, indent=1, sort_keys=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
