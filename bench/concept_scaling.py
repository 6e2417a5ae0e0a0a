#!/usr/bin/env python3
"""concept_scaling.py OUT "KS" "METHODS": the table and plots of bench/concept_scaling.sh.

Reads OUT/eval/parent.json, OUT/order.txt and OUT/eval/kK_METHOD.json (and each model's
lethe.json for its cost); writes OUT/table.md, one TSV per metric (OUT/ua.tsv, ira.tsv,
cra.tsv, clip.tsv) and their plots (OUT/ua.png, ...) with build/bench/plot_tsv. The parent's
row at each k comes from its per-style numbers: every style has the same number of images,
so UA, IRA and CRA are plain means over styles (its FID over the retained styles is not a
mean of per-style FIDs, so it is left out).
"""
import json
import os
import subprocess
import sys


def load(path):
    with open(path) as f:
        return json.load(f)


def mean(v):
    v = [x for x in v if x is not None]
    return sum(v) / len(v) if v else None


def cell(v, scale=100.0, spec="%.1f"):
    return "-" if v is None else spec % (v * scale)


def main():
    out, ks, methods = sys.argv[1], [int(k) for k in sys.argv[2].split()], sys.argv[3].split()
    parent = load(os.path.join(out, "eval", "parent.json"))["models"][0]
    order = open(os.path.join(out, "order.txt")).read().split()
    per_style = {p["style"]: p for p in parent["per_style"]}
    rows, series = [], {m: {} for m in ["parent"] + methods}
    for k in ks:
        gone = set(order[:k])
        kept = [p for s, p in per_style.items() if s not in gone]
        pr = {"ua": mean([1 - per_style[s]["style_accuracy"] for s in gone]),
              "ira": mean([p["style_accuracy"] for p in kept]), "cra": mean([p["object_accuracy"] for p in kept]),
              "fid_style_features_retained": None, "clip_score_retained": mean([p["clip_score"] for p in kept])}
        rows.append((k, "parent", pr, "-"))
        series["parent"][k] = pr
        for m in methods:
            path = os.path.join(out, "eval", "k%d_%s.json" % (k, m))
            if not os.path.exists(path):
                continue
            r = load(path)["models"][0]
            prov = load(os.path.join(r["model"], "lethe.json"))
            if "solve_seconds" in prov:
                cost = "solve %.3f s" % prov["solve_seconds"]
            else:
                cost = "%.0f s CPU" % prov.get("cpu_seconds", 0)
            rows.append((k, m, r, cost))
            series[m][k] = r
    with open(os.path.join(out, "table.md"), "w") as f:
        f.write("| k | method | UA % | IRA % | CRA % | FID style (retained) | CLIP (retained) | time |\n")
        f.write("|---|---|---|---|---|---|---|---|\n")
        for k, m, r, cost in rows:
            f.write("| %d | %s | %s | %s | %s | %s | %s | %s |\n" % (
                k, m, cell(r["ua"]), cell(r["ira"]), cell(r["cra"]), cell(r["fid_style_features_retained"], 1.0),
                cell(r["clip_score_retained"], 1.0), cost))
        f.write("\nThe k styles: %s (the first k of that order).\n" % ", ".join(order[:max(ks)]))
    plot = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "build", "bench", "plot_tsv")
    names = ["parent"] + methods
    for key, title, ylabel, scale in (("ua", "UA against the number of styles erased at once", "UA %", 100),
                                      ("ira", "IRA (the other styles) against k", "IRA %", 100),
                                      ("cra", "CRA (objects of the other styles) against k", "CRA %", 100),
                                      ("clip", "CLIP score of the retained prompts against k", "CLIP score", 1)):
        field = {"ua": "ua", "ira": "ira", "cra": "cra", "clip": "clip_score_retained"}[key]
        tsv = os.path.join(out, key + ".tsv")
        if all(series[m].get(k, {}).get(field) is None for m in names for k in ks):
            continue   # not measured (--no-clip)
        with open(tsv, "w") as f:
            f.write("k\t" + "\t".join(names) + "\n")
            for k in ks:
                vals = []
                for m in names:
                    v = series[m].get(k, {}).get(field)
                    vals.append("-" if v is None else "%g" % (v * scale))
                f.write("%d\t%s\n" % (k, "\t".join(vals)))
        if os.path.exists(plot):
            subprocess.run([plot, tsv, os.path.join(out, key + ".png"), "--title", title, "--x-label",
                            "styles erased at once (k)", "--y-label", ylabel, "--log-x"], check=True)


if __name__ == "__main__":
    main()
