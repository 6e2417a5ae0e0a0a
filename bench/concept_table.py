#!/usr/bin/env python3
"""concept_table.py TABLE_MD EVAL_JSON...: the table of bench/concept_table.sh.

Each EVAL_JSON is one model's text-to-image `lethe eval` report (the first: the parent; several
reports of one model, from other noise seeds, are averaged: mean +- sd); each
model's lethe.json gives the method, its budget and its cost. Columns: UA, IRA, CRA, the
forgotten style's family neighbours' style accuracy (precision: a similar style that must
stay), the object kept on the forgotten concept's own images, FID on both judges' features and
the CLIP score (retained images), and the cost: CPU seconds of the run (all threads, every
sitting), and for the closed forms the solve time.
"""
import json
import os
import sys


def load(path):
    with open(path) as f:
        return json.load(f)


def stat(vals, scale, spec):
    vals = [v for v in vals if v is not None]
    if not vals:
        return "-"
    m = sum(vals) / len(vals)
    if len(vals) == 1:
        return spec % (scale * m)
    sd = (sum((v - m) ** 2 for v in vals) / (len(vals) - 1)) ** 0.5
    return (spec + " +- " + spec) % (scale * m, scale * sd)


def pct(vals):
    return stat(vals, 100.0, "%.1f")


def num(vals):
    return stat(vals, 1.0, "%.1f")


def main():
    out, parts = sys.argv[1], sys.argv[2:]
    reports = [load(p) for p in parts]
    forget = reports[0]["forget"]
    concepts = forget["concepts"]
    s = reports[0]["settings"]
    groups = {}   # model folder -> its reports (one per seed), in first-seen order
    for rep in reports:
        groups.setdefault(rep["models"][0]["model"], []).append(rep["models"][0])
    rows = []
    for model_dir, ms in groups.items():
        prov_path = os.path.join(model_dir, "lethe.json")
        prov = load(prov_path) if os.path.exists(prov_path) else {}
        args = prov.get("arguments", {})
        method = prov.get("method") if prov.get("kind") == "unlearned" else "parent"
        name = os.path.basename(os.path.normpath(model_dir)) if method != "parent" else "parent"
        budget = "-"
        if method in ("uce", "scapre"):
            cost = "solve %.3f s (%.1f s in all)" % (prov.get("solve_seconds", 0), prov.get("seconds", 0))
        elif method != "parent":
            budget = "%s x %s" % (prov.get("steps_done", "?"), args.get("batch", "?"))
            cost = "%.0f s" % prov.get("cpu_seconds", 0)
        else:
            cost = "-"
        neighbours = []
        if forget["domain"] == "style":
            for m in ms:
                fam = {p["family"] for p in m["per_style"] if p["forgotten"]}
                nb = [p["style_accuracy"] for p in m["per_style"] if p["family"] in fam and not p["forgotten"]
                      and p["style_accuracy"] is not None]
                neighbours.append(sum(nb) / len(nb) if nb else None)
        rows.append((name, budget, ms, neighbours, cost))
    with open(out, "w") as f:
        n_seeds = max(len(ms) for _, _, ms, _, _ in rows)
        f.write("Forgetting %s `%s` from `%s`: %d prompts x %d images, DDIM %d steps, guidance %g%s%s\n\n" % (
            forget["domain"], ",".join(concepts), reports[0]["models"][0]["model"], s["prompts"],
            s["seeds_per_prompt"], s["steps"], s["guidance"],
            " (styles: " + ", ".join(s["styles"]) + ")" if "styles" in s else "",
            "; mean +- sd over %d noise seeds" % n_seeds if n_seeds > 1 else ""))
        nb_col = forget["domain"] == "style"
        f.write("| method | steps x batch | UA %% | IRA %% | CRA %% |%s kept %% | FID style | FID object | CLIP | cost (CPU) |\n"
                % (" family IRA % |" if nb_col else ""))
        f.write("|---|---|---|---|---|%s---|---|---|---|---|\n" % ("---|" if nb_col else ""))
        for name, budget, ms, nb, cost in rows:
            col = lambda key: [m[key] for m in ms]
            f.write("| %s | %s | %s | %s | %s |%s %s | %s | %s | %s | %s |\n" % (
                name, budget, pct(col("ua")), pct(col("ira")), pct(col("cra")), (" %s |" % pct(nb)) if nb_col else "",
                pct(col("forget_cross_accuracy")), num(col("fid_style_features_retained")),
                num(col("fid_object_features_retained")), num(col("clip_score_retained")), cost))
        f.write("\nUA: the forgotten concept's images not judged as it; IRA / CRA: the %s / %s judge on every "
                "other image; %skept: the %s judge on the forgotten concept's own images; FID and CLIP score "
                "over the retained images.\n" % (
                    forget["domain"], "object" if forget["domain"] == "style" else "style",
                    "family IRA: the style judge on the forgotten style's family neighbours; " if nb_col else "",
                    "object" if forget["domain"] == "style" else "style"))


if __name__ == "__main__":
    main()
