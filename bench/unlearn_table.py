#!/usr/bin/env python3
"""unlearn_table.py EVAL_JSON FORGET: the comparison table of bench/unlearn_table.sh.

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


def provenance(model_dir):
    p = os.path.join(model_dir, "lethe.json")
    return load(p) if os.path.exists(p) else {}


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


def main():
    eval_path, forget = sys.argv[1], sys.argv[2]
    j = load(eval_path)
    models = j["models"]
    provs = [provenance(m["model"]) for m in models]
    # cost: CPU seconds of the method's process (all threads), robust to a busy machine;
    # wall time beside it
    retrain_cpu = next((p.get("cpu_seconds") for p in provs if p.get("method") == "retrain"), None)
    s = j["settings"]
    print("Forgetting `%s` (%s): %d samples per class, %s %d steps, guidance %g, seed %d; classifier test accuracy %.2f%%."
          % (forget, s["dataset"], s["samples_per_class"], s["sampler"], s["steps"], s["guidance"], s["seed"],
             100 * (j["classifier"]["test_accuracy"] or 0)))
    print()
    print("| method | steps | UA | p(forget) | retained acc. | FID retained | bits/dim forget | bits/dim retained "
          "| MIA AUC | wall time | CPU time | cost / retrain |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for m, p in zip(models, provs):
        name = p.get("method") or ("original" if p.get("kind") != "unlearned" else "?")
        if m.get("generator"):
            name += " (1-step)"
        f = m["forget"].get(forget, {})
        secs, cpu = p.get("seconds"), p.get("cpu_seconds")
        ratio = "-" if cpu is None or not retrain_cpu else "%.1f%%" % (100 * cpu / retrain_cpu)
        steps = p.get("steps_done", p.get("steps_total", "-"))
        print("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
            name, steps, fmt(f.get("ua"), ".1f", 100) + "%", fmt(f.get("forget_class_confidence"), ".3f"),
            fmt(m.get("retained_accuracy"), ".1f", 100) + "%", fmt(m["fid_lethe_cnn"]["retained"], ".2f"),
            fmt(m["bits_per_dim"]["forget_mean"], ".3f"), fmt(m["bits_per_dim"]["retained_mean"], ".3f"),
            fmt(m["membership_inference"]["auc"], ".3f"), "-" if secs is None else "%.0f s" % secs,
            "-" if cpu is None else "%.0f s" % cpu, ratio))
    print()
    print("FID is on the evaluation classifier's features (lethe-CNN), not Inception's. UA = 1 - the share of "
          "forget-class samples classified as the forget class. Wall time: the method's own run on 2 cores; CPU "
          "time: the CPU seconds of its process (all threads), the cost measure (it does not grow when other work "
          "shares the machine). The original's cost is its training, not listed. A one-step generator (SFD) has no "
          "likelihood, so no bits/dim or loss-based MIA, and it samples with one network evaluation per image "
          "(bench/one_step_speed.sh measures the speed-up).")

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
