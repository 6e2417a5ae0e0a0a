/*
 * cmd_info.c: `lethe info DIR`: what a model folder holds (config, parameter count,
 * classes, schedule, provenance), or a safetensors file's tensor list.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/args.h"
#include "cli/cli.h"
#include "core/fsutil.h"
#include "diffusion/model.h"
#include "io/safetensors.h"

static int info_safetensors(const char *path, int all) {
    st_file f;
    lethe_status st = st_open(&f, path);
    if (st) return cli_fail("info", st);
    size_t numel = 0;
    for (int i = 0; i < f.n_tensors; i++) numel += f.tensors[i].numel;
    printf("%s: safetensors, %d tensors, %zu values, %zu bytes\n", path, f.n_tensors, numel, f.size);
    for (int i = 0; i < f.n_meta; i++) printf("  metadata %s = %.100s\n", f.meta_keys[i], f.meta_values[i]);
    for (int i = 0; i < f.n_tensors && (all || i < 20); i++) {
        const st_tensor *t = &f.tensors[i];
        printf("  %-60s %-5s [", t->name, t->dtype);
        for (int d = 0; d < t->ndim; d++) printf("%s%lld", d ? ", " : "", (long long)t->shape[d]);
        printf("]\n");
    }
    if (!all && f.n_tensors > 20) printf("  ... %d more (--all)\n", f.n_tensors - 20);
    st_close(&f);
    return 0;
}

int cmd_info(int argc, char **argv) {
    int all = 0;
    const arg_spec specs[] = {{"all", ARG_FLAG, &all, "list every tensor"}};
    const char *pos[1];
    int npos;
    int r = args_parse("info", "info DIR|FILE.safetensors [--all]", specs, 1, argc, argv, pos, 1, &npos);
    if (r) return r == ARGS_HELP ? 0 : 2;
    if (npos != 1) { fprintf(stderr, "lethe info: give one model folder or .safetensors file\n"); return 2; }
    const char *path = pos[0];
    if (!fs_is_dir(path)) {
        if (!fs_exists(path)) return cli_fail("info", lethe_fail(LETHE_ERR_IO, "%s: no such file or folder", path));
        return info_safetensors(path, all);
    }
    lethe_model m;
    lethe_status st = model_load(&m, path);
    if (st) return cli_fail("info", st);
    const unet_config *c = &m.unet.cfg;
    if (model_is_text(&m)) {   // a text-to-image pipeline folder
        const unet_cond_config *u = &m.ucond->cfg;
        const clip_text_config *t = &m.text->enc.cfg;
        printf("%s: UNet2DConditionModel, %zu parameters in %d tensors\n", path, unet_cond_num_params(m.ucond),
               m.net.table->n);
        printf("  sample %dx%d, %d -> %d channels, blocks [", u->sample_size, u->sample_size, u->in_channels, u->out_channels);
        for (int i = 0; i < u->n_blocks; i++)
            printf("%s%d%s", i ? ", " : "", u->block_out_channels[i], u->down_cross[i] ? "+cross-attn" : "");
        printf("], %d layers per block, %d norm groups, mid cross-attention %s\n", u->layers_per_block, u->norm_num_groups,
               u->has_mid_block ? "yes" : "no");
        printf("  text-to-image: %s, %d layers of width %d, prompts of %d tokens (vocabulary of %d), "
               "cross_attention_dim %d\n", t->with_projection ? "CLIPTextModelWithProjection" : "CLIPTextModel",
               t->num_hidden_layers, t->hidden_size, m.text->seq, m.text->tok.vocab_size, u->cross_attention_dim);
    } else {
        printf("%s: UNet2DModel, %zu parameters in %d tensors\n", path, unet_num_params(&m.unet), m.unet.table.n);
        printf("  sample %dx%d, %d -> %d channels, blocks [", c->sample_size, c->sample_size, c->in_channels, c->out_channels);
        for (int i = 0; i < c->n_blocks; i++) printf("%s%d%s", i ? ", " : "", c->block_out_channels[i], c->down_attn[i] ? "+attn" : "");
        printf("], %d layers per block, %d norm groups, mid attention %s\n", c->layers_per_block, c->norm_num_groups,
               c->has_mid_block && c->add_attention ? "yes" : "no");
    }
    if (m.n_classes) {
        printf("  class-conditional: %d classes + null (index %d):", m.n_classes, c->num_class_embeds - 1);
        for (int i = 0; i < m.n_classes; i++) printf(" %d=%s", i, m.class_names[i]);
        printf("\n");
    } else if (!model_is_text(&m)) {
        printf("  unconditional\n");
    }
    printf("  schedule: T=%d, betas %g..%g\n", m.sched.num_train_timesteps, (double)m.sched.beta_start, (double)m.sched.beta_end);
    if (m.dataset[0]) printf("  dataset: %s\n", m.dataset);
    if (m.data.dir[0])   // where unlearn and eval read its training data (not re-hashed here)
        printf("  data: %s (%d files, fingerprint %.16s...)%s\n", m.data.dir, m.data.n_files, m.data.sha256,
               fs_is_dir(m.data.dir) ? "" : ": the folder is gone; unlearn and eval need --data DIR");
    char p[4096];
    snprintf(p, sizeof p, "%s/lethe.json", path);
    uint8_t *bytes;
    size_t size;
    if (fs_exists(p) && !fs_read_all(p, &bytes, &size)) {
        printf("  lethe.json:\n%.*s\n", (int)size, (const char *)bytes);
        free(bytes);
    }
    if (all)
        for (int i = 0; i < m.net.table->n; i++) {
            const param_entry *e = &m.net.table->entries[i];
            printf("  %-60s [", e->name);
            for (int d = 0; d < e->ndim; d++) printf("%s%lld", d ? ", " : "", (long long)e->shape[d]);
            printf("]\n");
        }
    model_free(&m);
    return 0;
}
