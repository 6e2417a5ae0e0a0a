/*
 * fsutil.c: atomic whole-file writes, mkdir -p, existence checks, whole-file reads
 * (see fsutil.h).
 *
 * fs_write_atomic writes PATH.tmp in the same directory, checks every fwrite, fflush,
 * fsync and fclose, then renames over PATH and fsyncs the directory. On any failure
 * the tmp file is removed and PATH is left as it was.
 */
#include "core/fsutil.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

// "disk full (No space left on device)" for ENOSPC/EDQUOT, strerror otherwise.
static const char *fs_reason(int err) {
    static _Thread_local char buf[160];
    if (err == ENOSPC || err == EDQUOT) {
        snprintf(buf, sizeof buf, "disk full (%s)", strerror(err));
        return buf;
    }
    return strerror(err);
}

// Directory part of path ("." when there is none), for fsync after rename.
static void fs_dirname(const char *path, char *out, size_t cap) {
    const char *slash = strrchr(path, '/');
    if (!slash) { snprintf(out, cap, "."); return; }
    if (slash == path) { snprintf(out, cap, "/"); return; }
    size_t len = (size_t)(slash - path);
    if (len >= cap) len = cap - 1;
    memcpy(out, path, len);
    out[len] = '\0';
}

// ----------------------------------------------------------------------------
// atomic writes

lethe_status fs_write_atomic(const char *path, const void *const *bufs, const size_t *lens, int nbufs) {
    if (!path || !path[0]) return lethe_fail(LETHE_ERR_ARG, "fs_write_atomic: empty path");
    if (nbufs < 0 || (nbufs > 0 && (!bufs || !lens)))
        return lethe_fail(LETHE_ERR_ARG, "%s: fs_write_atomic: bad buffer list", path);
    if (fs_is_dir(path)) return lethe_fail(LETHE_ERR_IO, "%s: cannot write: it is a directory", path);

    size_t plen = strlen(path);
    char *tmp = malloc(plen + 5);
    if (!tmp) return lethe_fail(LETHE_ERR_NOMEM, "%s: out of memory", path);
    memcpy(tmp, path, plen);
    memcpy(tmp + plen, ".tmp", 5);

    FILE *fp = fopen(tmp, "wb");
    if (!fp) {
        int e = errno;
        lethe_status st = lethe_fail(LETHE_ERR_IO, "%s: cannot create %s: %s", path, tmp, fs_reason(e));
        free(tmp);
        return st;
    }
    int e = 0;
    const char *step = NULL;
    for (int i = 0; i < nbufs && !step; i++) {
        if (lens[i] == 0) continue;
        if (!bufs[i]) { e = EINVAL; step = "write (NULL buffer)"; break; }
        if (fwrite(bufs[i], 1, lens[i], fp) != lens[i]) { e = errno; step = "write"; }
    }
    if (!step && fflush(fp) != 0) { e = errno; step = "flush"; }
    if (!step && fsync(fileno(fp)) != 0) { e = errno; step = "fsync"; }
    if (fclose(fp) != 0 && !step) { e = errno; step = "close"; }
    if (!step && rename(tmp, path) != 0) { e = errno; step = "rename"; }
    if (step) {
        unlink(tmp);
        if (e == 0) e = EIO;
        lethe_status st = lethe_fail(LETHE_ERR_IO, "%s: %s of %s failed: %s", path, step, tmp, fs_reason(e));
        free(tmp);
        return st;
    }
    free(tmp);

    // Make the rename itself durable (best effort: not every filesystem allows it).
    char dir[PATH_MAX];
    fs_dirname(path, dir, sizeof dir);
    int dfd = open(dir, O_RDONLY | O_DIRECTORY);
    if (dfd >= 0) {
        (void)fsync(dfd);
        close(dfd);
    }
    return LETHE_OK;
}

lethe_status fs_write_text_atomic(const char *path, const char *text) {
    const void *bufs[1] = {text};
    size_t lens[1] = {text ? strlen(text) : 0};
    return fs_write_atomic(path, bufs, lens, 1);
}

// ----------------------------------------------------------------------------
// reading

lethe_status fs_read_all(const char *path, uint8_t **bytes, size_t *size) {
    *bytes = NULL;
    *size = 0;
    FILE *fp = fopen(path, "rb");
    if (!fp) return lethe_fail(LETHE_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat sb;
    if (fstat(fileno(fp), &sb) != 0) {
        int e = errno;
        fclose(fp);
        return lethe_fail(LETHE_ERR_IO, "%s: cannot stat: %s", path, strerror(e));
    }
    if (S_ISDIR(sb.st_mode)) {
        fclose(fp);
        return lethe_fail(LETHE_ERR_IO, "%s: is a directory, expected a file", path);
    }
    // Regular files are read in one go; pipes, /proc and memfd paths grow a buffer.
    size_t cap = S_ISREG(sb.st_mode) ? (size_t)sb.st_size + 1 : 65536;
    if (S_ISREG(sb.st_mode) && (uint64_t)sb.st_size >= (uint64_t)SIZE_MAX) {
        fclose(fp);
        return lethe_fail(LETHE_ERR_IO, "%s: too large to read (%lld bytes)", path, (long long)sb.st_size);
    }
    uint8_t *buf = malloc(cap);
    if (!buf) {
        fclose(fp);
        return lethe_fail(LETHE_ERR_NOMEM, "%s: out of memory reading %zu bytes", path, cap);
    }
    size_t n = 0;
    for (;;) {
        if (n == cap) {
            if (cap > SIZE_MAX / 2) { free(buf); fclose(fp); return lethe_fail(LETHE_ERR_IO, "%s: too large", path); }
            uint8_t *nb = realloc(buf, cap * 2);
            if (!nb) {
                free(buf);
                fclose(fp);
                return lethe_fail(LETHE_ERR_NOMEM, "%s: out of memory reading %zu bytes", path, cap * 2);
            }
            buf = nb;
            cap *= 2;
        }
        size_t got = fread(buf + n, 1, cap - n, fp);
        n += got;
        if (got == 0) break;
    }
    if (ferror(fp)) {
        int e = errno;
        free(buf);
        fclose(fp);
        return lethe_fail(LETHE_ERR_IO, "%s: read failed: %s", path, strerror(e));
    }
    fclose(fp);
    *bytes = buf;
    *size = n;
    return LETHE_OK;
}

// ----------------------------------------------------------------------------
// directories

int fs_exists(const char *path) {
    struct stat sb;
    return path && stat(path, &sb) == 0;
}

int fs_is_dir(const char *path) {
    struct stat sb;
    return path && stat(path, &sb) == 0 && S_ISDIR(sb.st_mode);
}

lethe_status fs_mkdir_p(const char *path) {
    if (!path || !path[0]) return lethe_fail(LETHE_ERR_ARG, "mkdir: empty path");
    size_t len = strlen(path);
    if (len >= PATH_MAX) return lethe_fail(LETHE_ERR_ARG, "%s: path too long", path);
    char buf[PATH_MAX];
    memcpy(buf, path, len + 1);
    // Create each prefix ending before a '/', then the whole path.
    for (size_t i = 1; i <= len; i++) {
        if (buf[i] != '/' && buf[i] != '\0') continue;
        if (buf[i - 1] == '/') continue;   // "a//b"
        char saved = buf[i];
        buf[i] = '\0';
        if (mkdir(buf, 0755) != 0) {
            int e = errno;
            if (e != EEXIST) {
                lethe_status st = lethe_fail(LETHE_ERR_IO, "%s: cannot create directory %s: %s", path, buf, fs_reason(e));
                return st;
            }
            if (!fs_is_dir(buf))
                return lethe_fail(LETHE_ERR_IO, "%s: %s exists and is not a directory", path, buf);
        }
        buf[i] = saved;
    }
    return LETHE_OK;
}

lethe_status fs_ensure_writable_dir(const char *dir) {
    lethe_status st = fs_mkdir_p(dir);
    if (st) return st;
    // access() lies for root and some network filesystems: create and delete a probe.
    char probe[PATH_MAX];
    int len = snprintf(probe, sizeof probe, "%s/.lethe-write-test-XXXXXX", dir);
    if (len < 0 || (size_t)len >= sizeof probe) return lethe_fail(LETHE_ERR_ARG, "%s: path too long", dir);
    int fd = mkstemp(probe);
    if (fd < 0) return lethe_fail(LETHE_ERR_IO, "%s: directory is not writable: %s", dir, fs_reason(errno));
    close(fd);
    unlink(probe);
    return LETHE_OK;
}

lethe_status fs_read_text(const char *path, char **text) {
    uint8_t *bytes;
    size_t size;
    lethe_status st = fs_read_all(path, &bytes, &size);
    if (st) return st;
    char *t = realloc(bytes, size + 1);
    if (!t) {
        free(bytes);
        return lethe_fail(LETHE_ERR_NOMEM, "out of memory reading %s", path);
    }
    t[size] = 0;
    *text = t;
    return LETHE_OK;
}
