/*
 * snapshots.h: the weight snapshots a training run keeps for VDU's parameter statistics
 * (train --snapshots K, read by unlearn --snapshots DIR), and their manifest.
 *
 * The K snapshots are the weights the run exports (EMA when EMA is on, else the live
 * weights) after K steps evenly spaced over the run's second half: with S steps and
 * H = floor(S/2), the k-th (k = 1..K) is taken after step H + ceil(k (S - H) / K), so the
 * last one is the final step (bit-identical to the exported model). K <= S - H. Files:
 *   OUT/snapshots/snapshot_SSSSSSSS.safetensors   the UNet tensors under their diffusers
 *       names (a valid diffusers weights file, "format": "pt"), metadata lethe_format
 *       SNAPSHOT_FORMAT, step, steps_total, seed, weights ("ema" or "live"), unet_config;
 *       each written atomically (st_write);
 *   OUT/snapshots/snapshots.json (SNAPSHOT_MANIFEST)   format SNAPSHOT_MANIFEST_FORMAT, K
 *       ("snapshots"), steps_total, seed (a string), weights, and "files": the K planned
 *       {step, file} (rewritten at the start of every invocation of the run).
 * This file is the one writer and the one reader of that layout.
 */
#ifndef LETHE_DIFFUSION_SNAPSHOTS_H
#define LETHE_DIFFUSION_SNAPSHOTS_H

#include <stddef.h>
#include <stdint.h>

#include "diffusion/model.h"

#define SNAPSHOT_DIR "snapshots"
#define SNAPSHOT_MANIFEST "snapshots.json"
#define SNAPSHOT_MANIFEST_FORMAT "lethe-snapshots-1"
#define SNAPSHOT_FORMAT "lethe-snapshot-1"   // a snapshot file's "lethe_format" metadata

// The training step after which snapshot k (0-based, k < K) of an S-step run is taken.
int train_snapshot_step(int steps, int k, int K);

// ---- writing (the training run) ------------------------------------------------------------

typedef struct {
    const char *out_dir;   // the run's folder (files go to out_dir/SNAPSHOT_DIR)
    int steps;             // S, the run's total steps
    int count;             // K (0: none)
    uint64_t seed;         // the run's seed
    int use_ema;           // the exported weights are the EMA ("ema") or the live ones ("live")
} snapshot_plan;

// Before the first step of an invocation that starts at `step`: a fresh run (resume = 0)
// deletes a previous run's planned files; a resumed one checks that every snapshot due at or
// before `step` is there and of this run (seed, steps, config of m). Then writes the manifest.
// *next = the index of the next snapshot to take (p->count: none left).
lethe_status snapshots_prepare(const snapshot_plan *p, const lethe_model *m, int resume, int step, int *next);

// Writes the snapshot of `step`: `weights` (backend, m's table.total floats).
lethe_status snapshot_save(const snapshot_plan *p, const lethe_model *m, const float *weights, int step);

// ---- reading (VDU) ---------------------------------------------------------------------------

typedef struct {
    int step;
    char *file;            // a name inside the snapshots folder (no '/')
} snapshot_entry;

typedef struct {
    int count;             // K the run keeps; -1 when the manifest does not say
    int steps_total;       // -1 when the manifest does not say
    int has_seed;
    uint64_t seed;
    int n;                 // entries in files
    snapshot_entry *files;
} snapshot_manifest;

// Parses a manifest: "files" (each entry with a string "file" without '/' and a number "step")
// is required; K, steps_total and seed are read when present.
lethe_status snapshot_manifest_read(const char *path, snapshot_manifest *m);
void snapshot_manifest_free(snapshot_manifest *m);

// The snapshots folder of a run folder `dir` (DIR/snapshots, or DIR itself when it holds the
// manifest) and its manifest's path. Returns 0 when neither holds a manifest.
int snapshots_locate(const char *dir, char *sdir, size_t sdir_cap, char *manifest, size_t manifest_cap);

#endif
