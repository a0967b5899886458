#!/usr/bin/env python3
"""The threshold curves of design/matching-and-rules.md, from `eval decisions --features`.

Replays the decision of rules::decide_plate over the recorded features (min_confidence 0.5, exact
valid pass, best valid near pass, the consensus's own probability) for other thresholds; with
the defaults it gives the same rates as `eval decisions` itself.

    python3 curves.py plates_dev-features.jsonl
"""
import json
import sys

rows = [json.loads(line) for line in open(sys.argv[1] if len(sys.argv) > 1 else "plates_dev-features.jsonl")]
N = len({r["vehicle"] for r in rows if r["decoys"] == 0 and r["scenario"] == "none_valid"}) or 74


def rates(decoys, clear, doubt, accuse, vehicles=74):
    out = {}
    for sc in ("all_valid", "none_valid"):
        veh = {}
        for r in rows:
            if r["decoys"] != decoys or r["scenario"] != sc:
                continue
            v = veh.setdefault(r["vehicle"], {"acc": False, "right": False, "rev": False, "clr": False})
            if r["confidence"] < 0.5:
                continue
            if r["exact_valid"] or r["best_valid_p"] >= clear:
                v["clr"] = True
            elif r["best_valid_p"] >= doubt or r["p_read"] < accuse:
                v["rev"] = True
            else:
                v["acc"] = True
                v["right"] |= r["plate"] == r["truth"]
        out[sc] = veh
    fa = sum(v["acc"] for v in out["all_valid"].values()) / vehicles
    catch = sum(v["right"] for v in out["none_valid"].values()) / vehicles
    fc = sum(v["clr"] and not v["acc"] and not v["rev"] for v in out["none_valid"].values()) / vehicles
    rev_pass = sum(v["rev"] and not v["acc"] for v in out["all_valid"].values()) / vehicles
    rev_none = sum(v["rev"] and not v["acc"] for v in out["none_valid"].values()) / vehicles
    return fa, catch, fc, rev_pass, rev_none


pct = lambda x: f"{100 * x:.1f}%"
print("clear threshold (doubt = clear, accuse 0.2): decoys clear FA catch false-clearance")
for d in (0, 1000, 1000000):
    for c in (0.01, 0.05, 0.1, 0.2, 0.5):
        fa, catch, fc, _, _ = rates(d, c, c, 0.2)
        print(d, c, pct(fa), pct(catch), pct(fc))
print("doubt threshold (clear at its default for the size): decoys doubt FA review+ catch review-")
for d, c in ((0, 0.05), (1000, 0.052), (1000000, 0.2)):
    for t in (1e-7, 1e-5, 1e-4, 1e-3, 1e-2):
        fa, catch, fc, rp, rn = rates(d, c, t, 0.2)
        print(d, t, pct(fa), pct(rp), pct(catch), pct(rn))
print("accuse threshold (0 decoys): accuse catch review-")
for a in (0.1, 0.2, 0.3, 0.5):
    fa, catch, fc, rp, rn = rates(0, 0.05, 1e-5, a)
    print(a, pct(catch), pct(rn))
