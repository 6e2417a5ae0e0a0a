/* data_record.c: fingerprints of a dataset's files (see data_record.h). */
#include "data/data_record.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "io/hash.h"

lethe_status data_record_hash(lethe_data_record *r) {
    // the fingerprint hashes a short text, one line per file, so it can be recomputed from lethe.json
    char lines[LETHE_DATA_MAX_FILES * 160] = "";
    size_t at = 0;
    for (int i = 0; i < r->n_files; i++) {
        lethe_data_file *f = &r->files[i];
        char path[1200];
        snprintf(path, sizeof path, "%s/%s", r->dir, f->name);
        struct stat sb;
        if (stat(path, &sb) != 0) return lethe_fail(LETHE_ERR_IO, "%s: %s", path, strerror(errno));
        f->bytes = (long long)sb.st_size;
        lethe_status st = sha256_file(path, f->sha256);
        if (st) return st;
        at += (size_t)snprintf(lines + at, sizeof lines - at, "%s %lld %s\n", f->name, f->bytes, f->sha256);
    }
    sha256_hex(lines, at, r->sha256);
    return LETHE_OK;
}

static const lethe_data_file *find_file(const lethe_data_record *r, const char *name) {
    for (int i = 0; i < r->n_files; i++)
        if (!strcmp(r->files[i].name, name)) return &r->files[i];
    return NULL;
}

lethe_status data_record_compare(const lethe_data_record *recorded, const lethe_data_record *now, const char *whose) {
    if (!strcmp(recorded->sha256, now->sha256)) return LETHE_OK;
    char what[600] = "the files differ";
    for (int i = 0; i < recorded->n_files; i++) {
        const lethe_data_file *a = &recorded->files[i], *b = find_file(now, a->name);
        if (!b) {
            snprintf(what, sizeof what, "%s is no longer read (another file took its place)", a->name);
            break;
        }
        if (a->bytes != b->bytes || strcmp(a->sha256, b->sha256)) {
            snprintf(what, sizeof what, "%s is now %lld bytes with SHA-256 %.16s..., recorded %lld bytes with SHA-256 %.16s...",
                     a->name, b->bytes, b->sha256, a->bytes, a->sha256);
            break;
        }
    }
    for (int i = 0; !strcmp(what, "the files differ") && i < now->n_files; i++)
        if (!find_file(recorded, now->files[i].name)) snprintf(what, sizeof what, "%s is read now but was not then", now->files[i].name);
    return lethe_fail(LETHE_ERR_IO, "the data in %s changed since %s was trained on it: %s; pass --data %s to use "
                      "these files anyway, or --data DIR with the original files", now->dir, whose, what, now->dir);
}
