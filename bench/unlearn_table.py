#!/usr/bin/env python3
"""unlearn_table.py EVAL_JSON FORGET [--names]: the comparison table of bench/unlearn_table.sh
(--names: rows named by the model folder, for bench/method_sweep.sh).

Reads the multi-model report of `lethe eval` and each model's lethe.json (method, steps,
wall time), prints one Markdown table, and stacks the forget-class row and one retained
row of every model's sample grid into GRIDS.png beside the JSON (stdlib only).
"""
import json
import os
import struct
import sys
import zlib


def load(path):
    with open(path) as f:
        return json.load(f)


def provenance(model):
    """The model's lethe.json: from its folder, else the copy merge_eval.py kept in the report."""
    p = os.path.join(model["model"], "lethe.json")
    return load(p) if os.path.exists(p) else model.get("provenance", {})


def fmt(v, spec, scale=1.0):
    return "-" if v is None else format(v * scale, spec)


# ---- PNG (8-bit grayscale, as lethe writes them) -------------------------------------------------

def png_read_gray(path):
    data = open(path, "rb").read()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", path
    pos, idat, w, h = 8, b"", 0, 0
    while pos < len(data):
        n, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + n]
        if kind == b"IHDR":
            w, h, depth, color = struct.unpack(">IIBB", body[:10])
            assert depth == 8 and color == 0, "expected 8-bit grayscale"
        elif kind == b"IDAT":
            idat += body
        pos += 12 + n
    raw, rows, prev = zlib.decompress(idat), [], bytearray(w)
    for y in range(h):
        f, line = raw[y * (w + 1)], bytearray(raw[y * (w + 1) + 1:(y + 1) * (w + 1)])
        for x in range(w):
            a = line[x - 1] if x else 0
            b, c = prev[x], prev[x - 1] if x else 0
            if f == 1: line[x] = (line[x] + a) & 255
            elif f == 2: line[x] = (line[x] + b) & 255
            elif f == 3: line[x] = (line[x] + (a + b) // 2) & 255
            elif f == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[x] = (line[x] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append(line)
        prev = line
    return w, h, rows


def png_write_gray(path, w, rows):
    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xffffffff)
    raw = b"".join(b"\x00" + bytes(r) for r in rows)
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, len(rows), 8, 0, 0, 0, 0))
                + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b""))


def goals(m, p, parent, retrain, forget, classes, retrain_cpu):
    """Issue 15's goals, one mark each: UA, mean kept, worst kept, FID, MIA, cost."""
    marks = []
    f = m["forget"].get(forget, {})
    ua = f.get("ua")
    # UA >= 99.5%; for a class the classifier itself confuses (retrain's own UA is lower), >= retrain's UA
    ua_goal = 0.995
    if retrain is not None and retrain["forget"].get(forget, {}).get("ua") is not None:
        ua_goal = min(ua_goal, retrain["forget"][forget]["ua"])
    marks.append(ua is not None and ua >= ua_goal - 1e-12)
    kept = [c for c in classes if c != forget]   # the evaluated classes
    acc, acc0 = m.get("generation_accuracy") or {}, parent.get("generation_accuracy") or {}
    if acc and acc0:
        mean = sum(acc[c] for c in kept) / len(kept)
        mean0 = sum(acc0[c] for c in kept) / len(kept)
        worst_drop = max(acc0[c] - acc[c] for c in kept)
        marks.append(mean >= mean0 - 0.01)
        marks.append(worst_drop <= 0.05)
    else:
        marks += [False, False]
    fid, fid0 = m["fid_lethe_cnn"]["retained"], parent["fid_lethe_cnn"]["retained"]
    marks.append(fid is not None and fid0 is not None and fid <= 1.05 * fid0)
    auc = m["membership_inference"]["auc"]
    auc_r = retrain["membership_inference"]["auc"] if retrain is not None else None
    marks.append(auc is not None and auc_r is not None and abs(auc - auc_r) <= 0.02)
    cpu = p.get("cpu_seconds")
    marks.append(cpu is not None and retrain_cpu is not None and cpu <= 0.02 * retrain_cpu)
    return marks


def row_name(k, m, p, ri, by_folder):
    """A row's label: the method (esd-x for ESD on the conditioning weights), the folder under --names."""
    name = p.get("method") or ("original" if k == 0 else "retrain" if k == ri else "?")
    if name == "esd" and (p.get("arguments") or {}).get("params") == "conditioning":
        name = "esd-x"   # ESD on the conditioning weights only (the ESD paper's ESD-x)
    if by_folder and k > 0 and k != ri:
        name = os.path.basename(os.path.normpath(m["model"]))
    return name


def cost_cells(p, retrain_cpu):
    """wall time, CPU time and CPU time as a share of retrain's."""
    secs, cpu = p.get("seconds"), p.get("cpu_seconds")
    return ("-" if secs is None else "%.0f s" % secs, "-" if cpu is None else "%.0f s" % cpu,
            "-" if cpu is None or not retrain_cpu else "%.2f%%" % (100 * cpu / retrain_cpu))


def unconditional_table(j, models, provs, forget, ri, retrain_cpu, by_folder):
    """An unconditional parent (VDU's setting): PUL and u-FID instead of UA and kept accuracy."""
    s = j["settings"]
    print("Forgetting `%s` from an unconditional model (%s): %d samples per model, %s %d steps, seed %d (the same "
          "noise for every model); classifier test accuracy %.2f%%."
          % (forget, s["dataset"], models[0]["samples"], s["sampler"], s["steps"], s["seed"],
             100 * (j["classifier"]["test_accuracy"] or 0)))
    print()
    print("| method | steps | PUL | forget-class fraction | u-FID (change) | FID all | bits/dim forget | bits/dim kept "
          "| MIA AUC | wall time | CPU time | cost / retrain |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    ufid0 = models[0]["fid_lethe_cnn"]["retained"]
    for k, (m, p) in enumerate(zip(models, provs)):
        f = m["forget"].get(forget, {})
        ufid = m["fid_lethe_cnn"]["retained"]
        ufid_s = fmt(ufid, ".2f") + ("" if k == 0 or ufid is None or not ufid0 else " (%+.1f%%)" % (100 * (ufid / ufid0 - 1)))
        print("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |" % ((
            row_name(k, m, p, ri, by_folder), p.get("steps_done", p.get("steps_total", "-")),
            "-" if k == 0 or f.get("pul_percent") is None else "%.1f%%" % f["pul_percent"],
            fmt(m["class_fraction"].get(forget), ".1f", 100) + "%", ufid_s, fmt(m["fid_lethe_cnn"]["all"], ".2f"),
            fmt(m["bits_per_dim"]["forget_mean"], ".3f"), fmt(m["bits_per_dim"]["retained_mean"], ".3f"),
            fmt(m["membership_inference"]["auc"], ".3f")) + cost_cells(p, retrain_cpu)))
    print()
    print("PUL (percentage of unlearning) = 100 (N_f before - N_f after) / N_f before, N_f the samples the classifier "
          "assigns to the forget class, from the same noise; higher is better. u-FID: FID of the samples the classifier "
          "assigns to kept classes against the real images of those classes (lethe-CNN features); lower is better. Unconditional samples "
          "have no class to ask for, so there is no UA or kept-class accuracy.")


def main():
    eval_path, forget = sys.argv[1], sys.argv[2]
    by_folder = "--names" in sys.argv[3:]   # rows named by the model's folder (bench/method_sweep.sh)
    j = load(eval_path)
    models = j["models"]
    provs = [provenance(m) for m in models]
    classes = j["classes"]
    parent = models[0]
    # retrain: the method `retrain`, or a model trained from scratch without the forget class
    # (the parent's own recipe with --exclude: kind "trained" and fewer trained classes)
    ri = next((k for k, p in enumerate(provs) if k > 0 and (p.get("method") == "retrain" or
               (p.get("kind") == "trained" and len(p.get("trained_classes", classes)) < len(classes)))), None)
    retrain = models[ri] if ri is not None else None
    # cost: CPU seconds of the method's process (all threads), robust to a busy machine;
    # wall time beside it
    retrain_cpu = provs[ri].get("cpu_seconds") if ri is not None else None
    s = j["settings"]
    if not parent.get("conditional", True):
        unconditional_table(j, models, provs, forget, ri, retrain_cpu, by_folder)
        return
    print("Forgetting `%s` (%s): %d samples per class, %s %d steps, guidance %g, seed %d; classifier test accuracy %.2f%%."
          % (forget, s["dataset"], s["samples_per_class"], s["sampler"], s["steps"], s["guidance"], s["seed"],
             100 * (j["classifier"]["test_accuracy"] or 0)))
    print()
    print("| method | steps | UA | p(forget) | kept acc. (mean) | worst kept class (change) | FID kept (change) "
          "| bits/dim forget | bits/dim kept | MIA AUC | wall time | CPU time | cost / retrain | goals |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    kept = [c for c in j.get("evaluated_classes", classes) if c != forget]
    acc0 = parent.get("generation_accuracy") or {}
    fid0 = parent["fid_lethe_cnn"]["retained"]
    for k, (m, p) in enumerate(zip(models, provs)):
        name = row_name(k, m, p, ri, by_folder)
        if m.get("generator"):
            name += " (1-step)"
        f = m["forget"].get(forget, {})
        steps = p.get("steps_done", p.get("steps_total", "-"))
        acc = m.get("generation_accuracy") or {}
        if acc and acc0 and k == 0:   # the original: its weakest class
            worst = min(kept, key=lambda c: acc[c])
            worst_s = "%s %.1f%%" % (worst, 100 * acc[worst])
        elif acc and acc0:
            worst = max(kept, key=lambda c: acc0[c] - acc[c])
            worst_s = "%s %.1f%% (%+.1f)" % (worst, 100 * acc[worst], 100 * (acc[worst] - acc0[worst]))
        else:
            worst_s = "-"
        fid = m["fid_lethe_cnn"]["retained"]
        fid_s = fmt(fid, ".2f") + ("" if k == 0 or fid is None or not fid0 else " (%+.1f%%)" % (100 * (fid / fid0 - 1)))
        g = "" if k == 0 or k == ri else "".join("✓" if x else "✗" for x in goals(m, p, parent, retrain, forget,
                                                                               j.get("evaluated_classes", classes),
                                                                               retrain_cpu))
        print("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |" % ((
            name, steps, fmt(f.get("ua"), ".1f", 100) + "%", fmt(f.get("forget_class_confidence"), ".3f"),
            fmt(m.get("retained_accuracy"), ".1f", 100) + "%", worst_s, fid_s,
            fmt(m["bits_per_dim"]["forget_mean"], ".3f"), fmt(m["bits_per_dim"]["retained_mean"], ".3f"),
            fmt(m["membership_inference"]["auc"], ".3f")) + cost_cells(p, retrain_cpu) + (g,)))
    print()
    print("FID is on the evaluation classifier's features (lethe-CNN), not Inception's. UA = 1 - the share of "
          "forget-class samples classified as the forget class. Kept accuracy: the share of samples of each kept "
          "class the classifier judges as that class (mean; the worst class is the one that fell most from the "
          "original). Wall time: the run on 2 cores; CPU time: the CPU seconds of its process (all threads), the "
          "cost measure (it grows little when other work shares the machine: two one-thread trainings side by side on 2 cores took 10-15% more CPU time each). Retrain is the parent's own recipe "
          "without the forget class. A one-step generator (SFD) has no likelihood, so no bits/dim or loss-based MIA. "
          "Goals (issue 15), one mark each in this order: UA >= 99.5% (or >= retrain's UA when the classifier caps it), "
          "mean kept accuracy within 1 point of the original, no kept class more than 5 points down, FID kept within "
          "5%, MIA AUC within 0.02 of retrain's, CPU time <= 2% of retrain's.")
    print()

    # grids: the forget-class row and one retained row of each model, stacked
    stem = os.path.splitext(eval_path)[0]
    grids = [stem + (".png" if len(models) == 1 else "_%d.png" % (k + 1)) for k in range(len(models))]
    if not all(os.path.exists(g) for g in grids):
        return
    classes = j["classes"]
    fi = classes.index(forget)
    keep = next(c for c in range(len(classes)) if c != fi)
    out_rows, width = [], None
    for g in grids:
        w, h, rows = png_read_gray(g)
        width = width or w
        cell = (h + 2) // len(classes)    # grid rows: one per class, 2-pixel gaps
        for c in (fi, keep):
            out_rows.extend(rows[c * cell:c * cell + cell])
        out_rows.append(bytearray(b"\xff" * w))   # a white line between models
    png_write_gray(os.path.join(os.path.dirname(eval_path), "grids.png"), width, out_rows)
    print()
    print("grids.png: for each model in the order above, a row of `%s` samples and a row of `%s` samples (same noise)."
          % (forget, classes[keep]))


if __name__ == "__main__":
    main()
