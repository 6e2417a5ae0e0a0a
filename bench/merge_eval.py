#!/usr/bin/env python3
"""merge_eval.py OUT.json A.json B.json ...: single-model reports of `lethe eval` as one
multi-model report, as if one call had judged them all (bench/unlearn_table.sh evaluates one
model per call, so a long evaluation resumes model by model).

Every report must come from the same settings, classifier and classes: the noise is keyed by
(class, index), so each model's numbers do not depend on the others in its call (checked:
the same JSON, wall times aside). Grids: each A.png is copied to OUT_k.png (k = 1, 2, ...)
where it exists (the reports committed in docs/data come without their grids). Each model's
lethe.json (method, steps, CPU seconds: the table's cost columns) is kept in its entry as
"provenance", read from the model's folder or, where that is gone, from A.lethe.json beside
the report, so that a merged report tabulates without the models.
"""
import json
import os
import shutil
import sys

SAME = ("format", "settings", "classifier", "classes", "evaluated_classes", "forget_classes")


def main(argv):
    if len(argv) < 3:
        sys.exit(__doc__)
    out, parts = argv[1], argv[2:]
    reports = []
    for p in parts:
        with open(p) as f:
            reports.append(json.load(f))
    first = reports[0]
    for p, r in zip(parts, reports):
        for key in SAME:
            if r.get(key) != first.get(key):
                sys.exit("merge_eval.py: %s has another %s than %s: evaluate them with the same options" % (p, key, parts[0]))
        if len(r["models"]) != 1:
            sys.exit("merge_eval.py: %s judges %d models; give single-model reports" % (p, len(r["models"])))
    merged = dict(first)
    merged["command"] = "; ".join(r["command"] for r in reports)
    merged["models"] = [r["models"][0] for r in reports]
    for p, m in zip(parts, merged["models"]):
        for lj in (os.path.join(m["model"], "lethe.json"), p[:-5] + ".lethe.json"):
            if os.path.exists(lj):
                with open(lj) as f:
                    m["provenance"] = json.load(f)
                break
    # PUL is against the call's first model (lethe eval, evaluate.c), so a single-model report
    # has none: restore it from the class fractions as the joint call computes it
    base = merged["models"][0]
    for m in merged["models"][1:]:
        if m.get("conditional") or base.get("conditional"):
            continue
        for name, f in m.get("forget", {}).items():
            before, after = base["class_fraction"].get(name), m["class_fraction"].get(name)
            if f.get("pul_percent") is None and before and after is not None:
                f["pul_percent"] = 100.0 * (before - after) / before
    merged["real_features_seconds"] = sum(r.get("real_features_seconds", 0) for r in reports)
    merged["warnings"] = sorted({w for r in reports for w in r.get("warnings", [])})
    tmp = out + ".tmp"
    with open(tmp, "w") as f:
        json.dump(merged, f, indent=1)
    stem = out[:-5] if out.endswith(".json") else out
    for k, p in enumerate(parts):
        grid = p[:-5] + ".png"
        if os.path.exists(grid):
            shutil.copyfile(grid, "%s_%d.png" % (stem, k + 1))
    shutil.move(tmp, out)


if __name__ == "__main__":
    main(sys.argv)
