/*
 * dataset.h: in-memory image datasets, class names, class subsets and batching.
 *
 * A dataset spec is a name ("fashion-mnist", "mnist") found in the standard places
 * ($LETHE_DATA_DIR/<name>, ${XDG_DATA_HOME:-~/.local/share}/lethe/datasets/<name>,
 * /usr/share/datasets/<name>), or a directory holding IDX files
 * (train-images-idx3-ubyte[.gz], ...) or CIFAR-10 binary batches (data_batch_*.bin,
 * test_batch.bin, batches.meta.txt).
 */
#ifndef LETHE_DATA_DATASET_H
#define LETHE_DATA_DATASET_H

#include <stddef.h>
#include <stdint.h>

#include "core/classes.h"
#include "core/error.h"
#include "data/data_record.h"

typedef struct lethe_dataset lethe_dataset;

struct lethe_dataset {
    char name[64];                 // "fashion-mnist", "mnist", "cifar10" or the directory
    int n, c, h, w;                // n images of (c, h, w)
    uint8_t *pixels;               // n*c*h*w bytes, CHW per image
    int *labels;                   // n labels in [0, n_classes)
    int n_classes;
    char class_names[LETHE_MAX_CLASSES][32];   // "t-shirt", "trouser", ... or "0".."9"
    lethe_data_record source;      // the absolute folder and the files read (not hashed: data_record_hash)
    // A generated dataset (Fashion-Canvas) can draw its images anew: redraw(ds, round)
    // renders every image of the first ds->n again, from the same source image, in round
    // `round`'s draw (round 0: as loaded), and rewrites pixels and labels. NULL: fixed data.
    // `generator` is what it draws from; dataset_free releases it with free_generator.
    lethe_status (*redraw)(lethe_dataset *ds, uint64_t round);
    void *generator;
    void (*free_generator)(void *generator);
};

typedef enum { LETHE_SPLIT_TRAIN, LETHE_SPLIT_TEST } lethe_split;

lethe_status dataset_load(lethe_dataset *ds, const char *spec, lethe_split split);
void dataset_free(lethe_dataset *ds);
// Loads the data a model recorded (lethe.json "data"): from rec->dir, and for the train split
// (the files the record covers) checks the files against the fingerprint. Errors name whose
// data it is ("model DIR"), the recorded folder, and --data DIR to override. The dataset keeps
// the name `name` (the model's "dataset") when one is given.
lethe_status dataset_load_recorded(lethe_dataset *ds, const lethe_data_record *rec, const char *name, lethe_split split,
                                   const char *whose);

// "trouser" or "1" -> 1. Names are matched case-insensitively. Error names the valid classes.
lethe_status dataset_class_index(const lethe_dataset *ds, const char *name_or_index, int *out);
// Same, from a list of class names (used when only a model's class list is known).
lethe_status class_index_from_names(const char names[][32], int n_classes, const char *name_or_index, int *out);
// "trouser,6" -> {1, 6}; *count set; max entries cap. Duplicates are an error.
lethe_status dataset_parse_classes(const lethe_dataset *ds, const char *list, int *out, int cap, int *count);
// Same, from a list of class names.
lethe_status class_list_from_names(const char names[][32], int n_classes, const char *list, int *out, int cap, int *count);

// New dataset holding the images whose label is (keep=1) or is not (keep=0) in classes[0..k).
// Labels keep their original values. Used for forget / retain sets.
lethe_status dataset_subset(lethe_dataset *dst, const lethe_dataset *src, const int *classes, int k, int keep);

// Copies images idx[0..m) scaled to [-1, 1] (x/127.5 - 1) into out (m, c, h, w) and labels.
void dataset_batch(const lethe_dataset *ds, const int *idx, int m, float *out, int *labels);

// Known class names for a named dataset, so a model trained on it can name its classes.
// Returns the count, 0 if unknown.
int dataset_known_class_names(const char *dataset_name, char names[][32], int cap);

#endif
