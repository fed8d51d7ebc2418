#!/usr/bin/env python3
"""Where a CPU profile of lbd goes, by kind of work: each sample goes to one
bucket, chosen by its leaf function and the stack above it (a write syscall
under crypto/tls is the client's, under timedConn the member's; crypto by
algorithm; the scheduler, channels and goroutine starts together; allocation
and GC apart). Used for docs/tls.md's profile table.

  scripts/pprof-breakdown.py BINARY PROFILE...
  e.g. PROFILE=1 scripts/bench-tls.sh, then
  scripts/pprof-breakdown.py bin/lbd /tmp/lbd-bench/results/*-tls/proxies/lbd-h2_ka-r1/cpu.prof
"""
import collections
import re
import subprocess
import sys


def stacks(binary, profile):
    raw = subprocess.run(["go", "tool", "pprof", "-raw", binary, profile],
                         capture_output=True, text=True, check=True).stdout
    samples = raw.split("Samples:")[1].split("\nLocations")[0]
    locations = raw.split("\nLocations")[1].split("\nMappings")[0]
    funcs, cur = {}, None
    for line in locations.splitlines():
        m = re.match(r"\s*(\d+): 0x[0-9a-f]+ M=\d+ ?(\S*)", line)
        if m:
            cur = int(m.group(1))
            funcs[cur] = [m.group(2)] if m.group(2) else []
            continue
        m = re.match(r"\s+(\S+) ", line)
        if m and cur is not None:
            funcs[cur].append(m.group(1))
    for line in samples.strip().splitlines()[1:]:
        count, ids = line.split(":", 1)
        stack = [f for i in ids.split() for f in funcs[int(i)]] or ["?"]
        yield int(count.split()[0]), stack


def bucket(stack):
    leaf, s = stack[0], " ".join(stack)
    if "Syscall" in leaf or leaf.startswith("syscall"):
        if "crypto/tls" in s:
            return "syscalls: client " + ("write" if "Write" in s else "read")
        if "timedConn).Write" in s:
            return "syscalls: member write"
        if "timedConn).Read" in s:
            return "syscalls: member read"
        if "corkConn" in s:
            return "syscalls: client write"
        if "netpoll" in s:
            return "syscalls: netpoll"
        return "syscalls: other (accept, close, ...)"
    if "gcBgMarkWorker" in s or "gcAssist" in s or "bgsweep" in s:
        return "GC"
    if any(k in s for k in ("mallocgc", "newobject", "growslice", "makeslice")):
        return "allocation"
    if "crypto/" in leaf or "p256" in leaf.lower() or "addMulVVW" in leaf:
        if "rsa." in s:
            return "crypto: RSA-2048 sign"
        if "ecdh" in s or "x25519" in s.lower() or "edwards25519" in s:
            return "crypto: X25519 key exchange"
        if "ecdsa" in s:
            return "crypto: ECDSA P-256 sign"
        if "gcm" in s.lower() or "aes" in s.lower():
            return "crypto: AES-GCM records"
        if "sha" in s or "hmac" in s or "hkdf" in s:
            return "crypto: SHA-2/HMAC/HKDF"
        return "crypto: other"
    if "maps." in leaf or "runtime.map" in leaf:
        return "maps"
    if any(k in s for k in ("schedule", "park_m", "gopark", "goready", "newproc", "selectgo",
                            "chansend", "chanrecv", "mcall")) or "goexit" in leaf:
        return "scheduler, channels, goroutines"
    if leaf.startswith("net/http."):
        return "net/http (HTTP/2 server)"
    if leaf.startswith("lbd/"):
        return "lbd's own code"
    if leaf.startswith(("bufio", "bytes")) or any(k in leaf for k in ("memmove", "memclr", "indexbyte")):
        return "copies (bufio, memmove)"
    return "runtime and other"


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    for profile in sys.argv[2:]:
        counts, total = collections.Counter(), 0
        for n, stack in stacks(sys.argv[1], profile):
            counts[bucket(stack)] += n
            total += n
        print(f"{profile}: {total} samples")
        for name, n in counts.most_common():
            if n * 100 / total >= 1:
                print(f"  {n * 100 / total:5.1f}%  {name}")


if __name__ == "__main__":
    main()
