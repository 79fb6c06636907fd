#!/usr/bin/env python3
"""Where a callgrind profile's instructions went, by crate (and by file for
this project's own code), with inlined code counted in the file it came
from (callgrind's fi=/fe= lines), which a function-level report of a
fat-LTO build cannot say. Usage: callgrind_by_file.py OUT [ROWS]"""
import os, re, sys, collections
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
names = {}
def name(kind, rest):
    m = re.match(r"\((\d+)\)(?: (.*))?", rest)
    if not m: return rest
    k = (kind, m.group(1))
    if m.group(2) is not None: names[k] = m.group(2)
    return names.get(k, rest)
cost = collections.Counter()
fl = fi = None
events = None
total = 0
incall = False
for line in open(sys.argv[1], errors="replace"):
    line = line.rstrip("\n")
    if line.startswith("events:"): events = line.split()[1:]; continue
    if line.startswith("fl="): fl = name("fl", line[3:]); fi = None; continue
    if line.startswith(("fi=", "fe=")): fi = name("fl", line[3:]); continue
    if line.startswith("fn="): name("fn", line[3:]); continue
    if line.startswith(("cfn=", "cfi=", "cfl=", "cob=", "ob=")):
        if line.startswith(("cfi=", "cfl=")): name("fl", line[4:])
        if line.startswith("cfn="): name("fn", line[4:])
        continue
    if line.startswith("calls="): incall = True; continue
    if line and (line[0].isdigit() or line[0] in "+-*"):
        parts = line.split()
        if len(parts) < 2: continue
        if incall: incall = False; continue  # inclusive cost of a call: skip
        try: c = int(parts[1])
        except ValueError: continue
        cost[fi or fl] += c; total += c
by_crate = collections.Counter()
for f, c in cost.items():
    m = re.search(r"/(?:registry/src/[^/]+|git/checkouts/[^/]+)/([^/]+)/", f or "")
    if m: crate = re.sub(r"-\d+\.\d+.*$", "", m.group(1))
    elif f and "/rustc/" in f: crate = "std:" + "/".join(f.split("/library/")[-1].split("/")[:2]) if "/library/" in f else "std"
    elif f and f.startswith(ROOT): crate = "ours:" + f.split("/src/", 1)[-1] if "/src/" in f else f
    else: crate = f or "?"
    by_crate[crate] += c
print(f"total {total:,}")
for k, c in by_crate.most_common(int(sys.argv[2]) if len(sys.argv) > 2 else 40):
    print(f"{c/total*100:6.2f}%  {c:>14,}  {k}")
