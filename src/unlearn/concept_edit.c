/* concept_edit.c: closed-form concept erasure on a text-to-image model (see concept_edit.h). */
#include "unlearn/concept_edit.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "core/fsutil.h"
#include "core/progress.h"
#include "data/canvas.h"
#include "diffusion/model.h"
#include "ops/ops.h"

void concept_edit_opts_default(concept_edit_opts *o) {
    memset(o, 0, sizeof *o);
    o->method = "uce";
    o->guide = "";
    o->lambda = o->erase_scale = NAN;
    uce_opts_default(&o->uce);
    scapre_opts_default(&o->scapre);
}

typedef struct {
    char *text[CONCEPT_EDIT_MAX];
    int n;
} prompt_list;

static void prompts_free(prompt_list *p) {
    for (int i = 0; i < p->n; i++) free(p->text[i]);
    p->n = 0;
}

static lethe_status prompts_add(prompt_list *p, const char *s, size_t len) {
    while (len && (*s == ' ' || *s == '\t')) s++, len--;
    while (len && (s[len - 1] == ' ' || s[len - 1] == '\t' || s[len - 1] == '\r')) len--;
    if (!len) return LETHE_OK;
    if (p->n == CONCEPT_EDIT_MAX) return lethe_fail(LETHE_ERR_ARG, "at most %d concepts at once", CONCEPT_EDIT_MAX);
    if (!(p->text[p->n] = strndup(s, len))) return lethe_fail(LETHE_ERR_NOMEM, "out of memory");
    for (int i = 0; i < p->n; i++)
        if (!strcmp(p->text[i], p->text[p->n])) {
            lethe_status st = lethe_fail(LETHE_ERR_ARG, "concept '%s' is given twice", p->text[i]);
            free(p->text[p->n]);
            return st;
        }
    p->n++;
    return LETHE_OK;
}

static lethe_status prompts_split(prompt_list *p, const char *list, char sep) {
    for (const char *s = list; s && *s;) {
        const char *e = strchr(s, sep);
        size_t len = e ? (size_t)(e - s) : strlen(s);
        lethe_status st = prompts_add(p, s, len);
        if (st) return st;
        s = e ? e + 1 : NULL;
    }
    return LETHE_OK;
}

// The forget concepts: styles checked against the benchmark's names (so a typo names the
// styles), objects and file lines checked by the model's tokenizer when they are encoded.
static lethe_status forget_concepts(const concept_edit_opts *o, prompt_list *p) {
    lethe_status st = prompts_split(p, o->forget_styles, ',');
    for (int i = 0; !st && i < p->n; i++) {
        int idx;
        if ((st = canvas_style_index(p->text[i], &idx))) st = lethe_fail_context(st, "--forget-style");
    }
    if (!st) st = prompts_split(p, o->forget_objects, ',');
    if (!st && o->forget_file) {
        char *text = NULL;
        if ((st = fs_read_text(o->forget_file, &text))) return lethe_fail_context(st, "--forget-file");
        st = prompts_split(p, text, '\n');
        free(text);
    }
    if (!st && p->n == 0)
        st = lethe_fail(LETHE_ERR_ARG, "nothing to forget: give --forget-style, --forget-object or --forget-file");
    return st;
}

// rows (max_length - last word index) x width of prompt's hidden states from its last word
// token to the end of the sequence, into rows (host, caller frees); *first = that index.
static lethe_status token_features(text_cond *tc, const char *prompt, float *dev, float **rows, int *n_rows, int *first) {
    int *ids = malloc((size_t)tc->seq * sizeof(int)), n_tok = 0;
    if (!ids) return lethe_fail(LETHE_ERR_NOMEM, "out of memory");
    lethe_status st = tokenizer_encode(&tc->tok, prompt, ids, &n_tok);
    free(ids);
    if (st) return st;
    // BOS w_1 .. w_k EOS: the last word is at n_tok - 2 (the empty prompt: BOS, as UCE's
    // attention_mask.sum() - 2 gives)
    *first = n_tok - 2 >= 0 ? n_tok - 2 : 0;
    *n_rows = tc->seq - *first;
    if ((st = text_cond_encode_one(tc, prompt, dev))) return st;
    float *host = malloc((size_t)tc->seq * tc->width * sizeof(float));
    if (!host) return lethe_fail(LETHE_ERR_NOMEM, "out of memory");
    ops()->to_host(host, dev, (size_t)tc->seq * tc->width * sizeof(float));
    memmove(host, host + (size_t)*first * tc->width, (size_t)*n_rows * tc->width * sizeof(float));
    *rows = host;
    return LETHE_OK;
}

static double peak_rss_mb(void) {
    struct rusage u;
    return getrusage(RUSAGE_SELF, &u) ? 0.0 : u.ru_maxrss / 1024.0;
}

static char *provenance(const concept_edit_opts *o, const lethe_model *m, const char *parent_sha,
                        const prompt_list *forget, const prompt_list *keep, const concept_edit_report *rep) {
    cJSON *r = cJSON_CreateObject();
    cJSON_AddStringToObject(r, "format", "lethe-model-1");
    cJSON_AddStringToObject(r, "kind", "unlearned");
    const int scapre = !strcmp(o->method, "scapre");
    cJSON_AddStringToObject(r, "method", o->method);
    cJSON_AddStringToObject(r, "dataset", m->dataset);
    cJSON *p = cJSON_AddObjectToObject(r, "parent");
    cJSON_AddStringToObject(p, "dir", o->model_dir);
    cJSON_AddStringToObject(p, "weights_sha256", parent_sha);
    cJSON *f = cJSON_AddArrayToObject(r, "forget_concepts");
    for (int i = 0; i < forget->n; i++) cJSON_AddItemToArray(f, cJSON_CreateString(forget->text[i]));
    cJSON *k = cJSON_AddArrayToObject(r, "preserve_concepts");
    for (int i = 0; i < keep->n; i++) cJSON_AddItemToArray(k, cJSON_CreateString(keep->text[i]));
    cJSON *a = cJSON_AddObjectToObject(r, "arguments");
    cJSON_AddStringToObject(a, "guide", o->guide);
    if (scapre) {
        const scapre_opts *q = &o->scapre;
        cJSON_AddNumberToObject(a, "lambda", q->lambda);
        cJSON_AddNumberToObject(a, "erase_scale", q->erase_scale);
        cJSON_AddNumberToObject(a, "p", q->p);
        cJSON_AddBoolToObject(a, "mi_softmask", q->use_mi_mask);
        cJSON_AddNumberToObject(a, "mi_temperature", q->mi_temperature);
        cJSON_AddNumberToObject(a, "mi_samples", q->mi_samples);
        cJSON_AddNumberToObject(a, "probe_noise", q->noise);
        cJSON_AddNumberToObject(a, "entropy_samples", q->entropy_samples);
        cJSON_AddNumberToObject(a, "entropy_bins", q->entropy_bins);
        cJSON_AddBoolToObject(a, "ased", q->ased);
        cJSON_AddNumberToObject(a, "bures_iters", q->bures_iters);
        cJSON_AddNumberToObject(a, "seed", (double)q->seed);
    } else {
        cJSON_AddNumberToObject(a, "lambda", o->uce.lambda);
        cJSON_AddNumberToObject(a, "erase_scale", o->uce.erase_scale);
        if (o->uce.preserve_scale >= 0) cJSON_AddNumberToObject(a, "preserve_scale", o->uce.preserve_scale);
        else cJSON_AddStringToObject(a, "preserve_scale", "max(0.1, 1/n_preserved)");
    }
    cJSON_AddNumberToObject(r, "edited_matrices", rep->n_matrices);
    cJSON_AddNumberToObject(r, "solve_seconds", rep->solve_seconds);
    cJSON_AddNumberToObject(r, "seconds", rep->total_seconds);
    cJSON_AddNumberToObject(r, "peak_rss_mb", round(rep->peak_rss_mb));
    cJSON_AddStringToObject(r, "weights", "live");
    if (o->command_line) cJSON_AddStringToObject(r, "command", o->command_line);
    char *text = cJSON_Print(r);
    cJSON_Delete(r);
    return text;
}

lethe_status concept_edit_run(const concept_edit_opts *given, concept_edit_report *rep) {
    memset(rep, 0, sizeof *rep);
    const double t0 = lethe_now();
    concept_edit_opts opts = *given, *o = &opts;
    if (!o->model_dir || !o->out_dir) return lethe_fail(LETHE_ERR_ARG, "--model DIR and --out DIR are required");
    const int scapre = !strcmp(o->method, "scapre");
    if (!scapre && strcmp(o->method, "uce"))
        return lethe_fail(LETHE_ERR_ARG, "unknown closed-form method '%s' (uce, scapre)", o->method);
    if (scapre && o->preserve && o->preserve[0])
        return lethe_fail(LETHE_ERR_ARG, "scapre has no preserve set (its soft mask and spectral term keep the other "
                          "concepts); --preserve is for uce");
    if (!isnan(o->lambda)) o->uce.lambda = o->scapre.lambda = o->lambda;
    if (!isnan(o->erase_scale)) o->uce.erase_scale = o->scapre.erase_scale = o->erase_scale;
    prompt_list forget = {0}, keep = {0};
    lethe_status st = forget_concepts(o, &forget);
    if (!st) st = prompts_split(&keep, o->preserve, ',');
    if (st) {
        prompts_free(&forget), prompts_free(&keep);
        return st;
    }
    lethe_model m;
    if ((st = model_load(&m, o->model_dir))) {
        prompts_free(&forget), prompts_free(&keep);
        return st;
    }
    float *dev = NULL, *E = NULL, *G = NULL, *P = NULL, *W = NULL, *guide = NULL, *C = NULL, *e0 = NULL;
    int *owner = NULL;
    char parent_sha[65], *prov = NULL;
    const lethe_denoiser *net = &m.net;
    if (!model_is_text(&m) || !net->vt->cross_kv) {
        st = lethe_fail(LETHE_ERR_ARG, "model %s has no cross-attention (it is %s): %s edits the key and value "
                        "projections that read a text encoder's tokens; use a fine-tuning method (esd, spare, ...) for "
                        "class-level forgetting", o->model_dir, m.n_classes ? "class-conditional" : "unconditional", scapre ? "ScaPre" : "UCE");
        goto done;
    }
    if ((st = model_weights_sha256(&m, parent_sha))) goto done;
    text_cond *tc = m.text;
    const int width = tc->width;
    dev = ops()->alloc((size_t)tc->seq * width * sizeof(float));
    E = malloc((size_t)forget.n * tc->seq * width * sizeof(float));
    G = malloc((size_t)forget.n * tc->seq * width * sizeof(float));
    P = malloc((size_t)(keep.n ? keep.n : 1) * tc->seq * width * sizeof(float));
    C = malloc((size_t)forget.n * width * sizeof(float));
    owner = malloc((size_t)forget.n * tc->seq * sizeof(int));
    if (!dev || !E || !G || !P || !C || !owner) {
        st = lethe_fail(LETHE_ERR_NOMEM, "out of memory");
        goto done;
    }
    // the guide's features at every position (a concept's rows align with the guide's from
    // the concept's last word on, as UCE trims the two sequences to equal length)
    int g_rows, g_first;
    if ((st = token_features(tc, o->guide, dev, &guide, &g_rows, &g_first))) {
        st = lethe_fail_context(st, "--guide");
        goto done;
    }
    int ne = 0, np = 0;
    for (int i = 0; i < forget.n && !st; i++) {
        float *rows;
        int n, first;
        if ((st = token_features(tc, forget.text[i], dev, &rows, &n, &first))) {
            st = lethe_fail_context(st, "concept '%s'", forget.text[i]);
            break;
        }
        // pair concept row j (position first + j) with the guide row at position g_first + j
        const int pairs = n < g_rows ? n : g_rows;
        memcpy(C + (size_t)i * width, rows, (size_t)width * sizeof(float));   // the last word token: c_i
        for (int j = 0; j < pairs; j++) owner[ne + j] = i;
        memcpy(E + (size_t)ne * width, rows, (size_t)pairs * width * sizeof(float));
        memcpy(G + (size_t)ne * width, guide, (size_t)pairs * width * sizeof(float));
        ne += pairs;
        free(rows);
    }
    for (int i = 0; i < keep.n && !st; i++) {
        float *rows;
        int n, first;
        if ((st = token_features(tc, keep.text[i], dev, &rows, &n, &first))) {
            st = lethe_fail_context(st, "--preserve '%s'", keep.text[i]);
            break;
        }
        memcpy(P + (size_t)np * width, rows, (size_t)n * width * sizeof(float));
        np += n;
        free(rows);
    }
    if (st) goto done;
    if (scapre) {   // the neutral input: the empty prompt's hidden state at index 1 (its EOS)
        float *rows;
        int n, first;
        if ((st = token_features(tc, "", dev, &rows, &n, &first))) goto done;
        // first is 0 for the empty prompt (BOS EOS), so its EOS is row 1
        if (!(e0 = malloc((size_t)width * sizeof(float)))) {
            free(rows);
            st = lethe_fail(LETHE_ERR_NOMEM, "out of memory");
            goto done;
        }
        memcpy(e0, rows + (size_t)(1 - first) * width, (size_t)width * sizeof(float));
        free(rows);
    }
    // edit every cross-attention key / value matrix in place
    const param_table *t = net->table;
    double t_solve = 0;
    for (int i = 0; i < t->n && !st; i++) {
        const param_entry *e = &t->entries[i];
        if (!net->vt->cross_kv(e)) continue;
        const int d_out = (int)e->shape[0], d_in = (int)e->shape[1];
        if (d_in != width) {
            st = lethe_fail(LETHE_ERR_SHAPE, "%s reads %d-wide tokens; the text encoder gives %d", e->name, d_in, width);
            break;
        }
        free(W);
        if (!(W = malloc(e->numel * sizeof(float)))) {
            st = lethe_fail(LETHE_ERR_NOMEM, "out of memory");
            break;
        }
        ops()->to_host(W, m.params + e->offset, e->numel * sizeof(float));
        const double ts = lethe_now();
        st = scapre ? scapre_edit(W, d_out, d_in, C, forget.n, E, G, owner, ne, e0, &o->scapre)
                    : uce_edit(W, d_out, d_in, E, G, ne, np ? P : NULL, np, &o->uce);
        if (st) {
            st = lethe_fail_context(st, "%s", e->name);
            break;
        }
        t_solve += lethe_now() - ts;
        ops()->to_device(m.params + e->offset, W, e->numel * sizeof(float));
        rep->n_matrices++;
    }
    if (st) goto done;
    if (!rep->n_matrices) {
        st = lethe_fail(LETHE_ERR_ARG, "model %s has no cross-attention key/value projections to edit", o->model_dir);
        goto done;
    }
    rep->n_concepts = forget.n;
    rep->n_preserved = keep.n;
    rep->solve_seconds = t_solve;
    rep->peak_rss_mb = peak_rss_mb();
    rep->total_seconds = lethe_now() - t0;
    if (!(prov = provenance(o, &m, parent_sha, &forget, &keep, rep))) {
        st = lethe_fail(LETHE_ERR_NOMEM, "out of memory");
        goto done;
    }
    st = model_save(&m, m.params, o->out_dir, prov);
done:
    free(prov), free(E), free(G), free(P), free(W), free(guide), free(C), free(e0), free(owner);
    ops()->release(dev);
    model_free(&m);
    prompts_free(&forget), prompts_free(&keep);
    return st;
}
