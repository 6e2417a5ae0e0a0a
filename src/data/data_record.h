/*
 * data_record.h: where a dataset's images were read from and a fingerprint of the files,
 * so a model can find its training data again and notice when it changed (lethe.json
 * "data", written by `lethe train` and kept through unlearning).
 */
#ifndef LETHE_DATA_DATA_RECORD_H
#define LETHE_DATA_DATA_RECORD_H

#include "core/error.h"

// The most files one split reads: CIFAR-10's five train batches and batches.meta.txt.
#define LETHE_DATA_MAX_FILES 8

typedef struct {
    char name[64];        // file name inside the folder ("train-images-idx3-ubyte.gz")
    long long bytes;      // size on disk
    char sha256[65];      // of the file as stored (compressed if .gz), "" until hashed
} lethe_data_file;

typedef struct {
    char dir[1024];                             // absolute folder the files were read from; "" = no record
    int n_files;
    lethe_data_file files[LETHE_DATA_MAX_FILES];
    char sha256[65];                            // fingerprint: SHA-256 of one "name bytes sha256\n" line per file
} lethe_data_record;

// Fills each file's size and SHA-256 and the fingerprint (reads every file once).
lethe_status data_record_hash(lethe_data_record *r);

// Compares files hashed now (now, from data_record_hash) with a recorded set; the error
// names the first file that is missing, new or different, whose data it was (e.g.
// "model DIR") and the way out (--data DIR).
lethe_status data_record_compare(const lethe_data_record *recorded, const lethe_data_record *now, const char *whose);

#endif
