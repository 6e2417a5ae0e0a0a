/*
 * test_unlearn_options.c: the options of unlearning, declared once (the loop's table in
 * loop.c, each method's in its file) and set by name with unlearn_opts_set, the path the
 * CLI and embedding programs share:
 *
 * - the defaults are the declared ones (and the values the loop used before the tables);
 * - names, '_' spellings, leading dashes and old spellings; an old shared spelling takes
 *   its meaning for the method (--alpha: ga's retain weight, esd's negative guidance, sfd's
 *   SiD alpha; --gamma: sa's replay weight, vdu's stability weight), set before or after it;
 * - bad values and unknown names are LETHE_ERR_ARG with a message and change nothing;
 * - an option of another method is an error naming the methods that use it, when it is
 *   set, when the method is set, and when the run starts (before any file is read);
 * - lethe.json's "arguments" are the same whichever spelling was used, and record the
 *   method's options with their defaults;
 * - the tables themselves: one type per name across methods, no clash with the loop's
 *   names, every struct fits UNLEARN_OPTIONS_BYTES; --help and the Markdown list them.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "test_util.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <string.h>

#include "unlearn/unlearn.h"
#include "unlearn/unlearn_internal.h"

#define SET_OK(o, name, value) assert_int_equal(unlearn_opts_set(o, name, value), LETHE_OK)

static void expect_arg_error(unlearn_opts *o, const char *name, const char *value, const char *needle) {
    assert_int_equal(unlearn_opts_set(o, name, value), LETHE_ERR_ARG);
    if (!strstr(lethe_last_error(), needle)) fail_msg("'%s': error '%s' does not mention '%s'", name ? name : "(null)", lethe_last_error(), needle);
}

// The value of method option `name` after binding o to method `method`.
static opt_value method_value(const unlearn_opts *o, const char *method, const char *name) {
    const unlearn_method *m = unlearn_find(method);
    assert_non_null(m);
    max_align_t buf[UNLEARN_OPTIONS_BYTES / sizeof(max_align_t)];
    lethe_status st = unlearn_method_options(o, m, buf, sizeof buf);
    if (st) fail_msg("%s", lethe_last_error());
    const opt_spec *s = opt_find(m->options, m->n_options, name);
    assert_non_null(s);
    return opt_get(s, buf);
}

static void test_defaults(void **state) {
    (void)state;
    unlearn_opts o;
    unlearn_opts_default(&o);
    // the values unlearn_opts_default set before the tables
    assert_int_equal(o.steps, -1);
    assert_int_equal(o.batch, -1);
    assert_true(isnan(o.lr) && isnan(o.weight_decay) && isnan(o.adam_beta1) && isnan(o.adam_beta2));
    assert_int_equal(o.warmup, 0);
    assert_int_equal(o.lr_kind, LR_CONSTANT);
    assert_true(o.max_grad_norm == 1.0f);
    assert_int_equal(o.checkpoint_every, 100);
    assert_int_equal(o.log_every, 10);
    assert_int_equal(o.stop_after, 0);
    assert_int_equal(o.resume, 0);
    assert_int_equal(o.forget_images, 0);
    assert_true(o.seed == 0 && !o.method && !o.model_dir && !o.out_dir && !o.data && !o.forget && !o.command_line);
    assert_int_equal(o.n_given, 0);
    // each method's own defaults, as its code used before
    assert_true(method_value(&o, "ga", "retain-weight").f == 1.0f);
    assert_true(method_value(&o, "salun", "retain-weight").f == 1e-3f);
    assert_true(method_value(&o, "salun", "mask-fraction").f == 0.5f);
    assert_true(method_value(&o, "esd", "negative-guidance").f == 1.0f);
    assert_true(method_value(&o, "sa", "replay-weight").f == 1.0f);
    assert_true(method_value(&o, "sa", "ewc-weight").f == 1.0f);
    assert_int_equal(method_value(&o, "sa", "fisher-samples").i, 64);
    assert_int_equal(method_value(&o, "sa", "replay-samples").i, 256);
    // vdu: gamma unset, resolved per objective (0.5 under the default, gated, and faithful; 1 under reconstructed)
    assert_true(isnan(method_value(&o, "vdu", "stability-weight").f));
    assert_int_equal(method_value(&o, "vdu", "objective").i, 1);   // gated
    assert_int_equal(method_value(&o, "vdu", "update").i, 1);      // natural
    assert_int_equal(method_value(&o, "vdu", "anchor-precision").i, 2);   // auto
    assert_int_equal(method_value(&o, "vdu", "weighting").i, 0);   // simple
    assert_true(isnan(method_value(&o, "vdu", "gate").f));         // 20, under gated only
    assert_true(method_value(&o, "vdu", "var-floor").f == 1e-2f);
    assert_true(method_value(&o, "spare", "retain-weight").f == 1.0f);
    assert_int_equal(method_value(&o, "spare", "lora-rank").i, 4);
    assert_true(isnan(method_value(&o, "spare", "lora-alpha").f));   // the rank
    assert_int_equal(method_value(&o, "spare", "timesteps").i, 0);    // concept
    assert_null(method_value(&o, "spare", "surrogate").s);
    assert_true(method_value(&o, "sfd", "sid-alpha").f == 1.2f);
    assert_int_equal(method_value(&o, "sfd", "t-init").i, 440);
    assert_int_equal(method_value(&o, "sfd", "t-min").i, 38);
    assert_int_equal(method_value(&o, "sfd", "t-max").i, 712);
    assert_true(isnan(method_value(&o, "sfd", "fake-lr").f));        // --lr
    assert_true(method_value(&o, "sfd", "gen-forget-weight").f == 1.0f);
    assert_true(method_value(&o, "sfd", "gen-ema").f == 0.999f);
    assert_true(method_value(&o, "sfd", "clip-value").f == 1.0f);
    assert_true(method_value(&o, "sfd", "teacher-guidance").f == 2.0f);   // eval's guidance
    assert_int_equal(method_value(&o, "esd", "params").i, 0);             // all
}

static void test_loop_names(void **state) {
    (void)state;
    unlearn_opts o;
    unlearn_opts_default(&o);
    SET_OK(&o, "steps", "5");
    SET_OK(&o, "--batch", "3");            // leading dashes are dropped
    SET_OK(&o, "max_grad_norm", "0.5");    // '_' for '-', as the CLI
    SET_OK(&o, "lr-schedule", "cosine");
    SET_OK(&o, "lr", "1e-4");
    SET_OK(&o, "seed", "18446744073709551615");
    SET_OK(&o, "resume", "1");
    SET_OK(&o, "data", "fashion-mnist");
    assert_int_equal(o.steps, 5);
    assert_int_equal(o.batch, 3);
    assert_true(o.max_grad_norm == 0.5f);
    assert_int_equal(o.lr_kind, LR_COSINE);
    assert_true(o.lr == 1e-4f);
    assert_true(o.seed == UINT64_MAX);
    assert_int_equal(o.resume, 1);
    assert_string_equal(o.data, "fashion-mnist");
    // NULL: back to the default
    SET_OK(&o, "steps", NULL);
    SET_OK(&o, "lr", NULL);
    SET_OK(&o, "resume", NULL);
    assert_int_equal(o.steps, -1);
    assert_true(isnan(o.lr));
    assert_int_equal(o.resume, 0);
    assert_int_equal(unlearn_option_is_flag("resume"), 1);
    assert_int_equal(unlearn_option_is_flag("steps"), 0);
    assert_int_equal(unlearn_option_is_flag("alpha"), 0);
    assert_int_equal(unlearn_option_is_flag("negative_guidance"), 0);
    assert_int_equal(unlearn_option_is_flag("stepz"), -1);
}

static void test_bad_values(void **state) {
    (void)state;
    unlearn_opts o;
    unlearn_opts_default(&o);
    SET_OK(&o, "steps", "7");
    expect_arg_error(&o, "steps", "ten", "--steps: 'ten' is not a valid integer");
    expect_arg_error(&o, "steps", "99999999999", "not a valid integer");
    expect_arg_error(&o, "steps", "", "not a valid integer");
    assert_int_equal(o.steps, 7);   // unchanged
    expect_arg_error(&o, "lr", "fast", "--lr: 'fast' is not a valid number");
    expect_arg_error(&o, "lr", "nan", "not a valid number");
    expect_arg_error(&o, "seed", "-1", "not a valid integer");
    expect_arg_error(&o, "lr-schedule", "step", "--lr-schedule must be constant or cosine (got 'step')");
    expect_arg_error(&o, "resume", "maybe", "--resume");
    expect_arg_error(&o, "stepz", "1", "unknown option '--stepz'");
    expect_arg_error(&o, "", "1", "unknown option");
    expect_arg_error(&o, NULL, "1", "unknown option");
    expect_arg_error(&o, "method", "forgetall", "unknown method 'forgetall' (methods: retrain, finetune");
    assert_null(o.method);
    // a method option's value is checked when it is set, before the method is known
    expect_arg_error(&o, "alpha", "much", "--alpha: 'much' is not a valid number");
    expect_arg_error(&o, "timesteps", "sometimes", "--timesteps must be concept or uniform");
    expect_arg_error(&o, "t-init", "4.5", "not a valid integer");
    assert_int_equal(o.n_given, 0);
}

static void test_aliases_take_the_methods_meaning(void **state) {
    (void)state;
    unlearn_opts o;
    // method first
    static const struct { const char *method, *old, *name; } cases[] = {
        {"ga", "alpha", "retain-weight"},        {"salun", "alpha", "retain-weight"},
        {"spare", "alpha", "retain-weight"},     {"esd", "alpha", "negative-guidance"},
        {"sfd", "alpha", "sid-alpha"},           {"sa", "gamma", "replay-weight"},
        {"vdu", "gamma", "stability-weight"},    {"sa", "lambda", "ewc-weight"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        unlearn_opts_default(&o);
        SET_OK(&o, "method", cases[i].method);
        SET_OK(&o, cases[i].old, "0.25");
        assert_int_equal(o.n_given, 1);
        assert_string_equal(o.given[0].name, cases[i].name);
        assert_true(method_value(&o, cases[i].method, cases[i].name).f == 0.25f);
        // the method after the option: bound when the method is set
        unlearn_opts_default(&o);
        SET_OK(&o, cases[i].old, "0.5");
        SET_OK(&o, "method", cases[i].method);
        assert_string_equal(o.given[0].name, cases[i].name);
        assert_true(method_value(&o, cases[i].method, cases[i].name).f == 0.5f);
    }
    // old and new spelling of one option: the later wins, in either order and binding time
    unlearn_opts_default(&o);
    SET_OK(&o, "alpha", "0.5");
    SET_OK(&o, "retain_weight", "0.7");
    SET_OK(&o, "method", "ga");
    assert_int_equal(o.n_given, 1);
    assert_true(method_value(&o, "ga", "retain-weight").f == 0.7f);
    SET_OK(&o, "alpha", "0.125");
    assert_int_equal(o.n_given, 1);
    assert_true(method_value(&o, "ga", "retain-weight").f == 0.125f);
    // NULL returns it to the method's default
    SET_OK(&o, "retain-weight", NULL);
    assert_int_equal(o.n_given, 0);
    assert_true(method_value(&o, "ga", "retain-weight").f == 1.0f);
    // one option's value is kept by pointer: a string option
    unlearn_opts_default(&o);
    SET_OK(&o, "method", "spare");
    SET_OK(&o, "surrogate", "bag");
    SET_OK(&o, "timesteps", "uniform");
    assert_string_equal(method_value(&o, "spare", "surrogate").s, "bag");
    assert_int_equal(method_value(&o, "spare", "timesteps").i, 1);
}

static void test_option_of_another_method(void **state) {
    (void)state;
    unlearn_opts o;
    unlearn_opts_default(&o);
    SET_OK(&o, "method", "esd");
    expect_arg_error(&o, "mask-fraction", "0.3", "--mask-fraction is not an option of --method esd; it is used by salun, spare");
    expect_arg_error(&o, "gamma", "1", "used by sa, vdu");
    SET_OK(&o, "method", "finetune");
    expect_arg_error(&o, "alpha", "1", "--alpha is not an option of --method finetune; it is used by ga, esd, salun, spare, sfd");
    assert_int_equal(o.n_given, 0);
    // given first, then a method that does not use it: the method is refused and stays as it was
    unlearn_opts_default(&o);
    SET_OK(&o, "lambda", "1");
    expect_arg_error(&o, "method", "vdu", "--lambda is not an option of --method vdu; it is used by sa");
    assert_null(o.method);
    SET_OK(&o, "method", "sa");
    assert_string_equal(o.method, "sa");
    expect_arg_error(&o, "method", "ga", "--ewc-weight is not an option of --method ga");
    assert_string_equal(o.method, "sa");
    // the method assigned directly: unlearn_run refuses before reading anything
    unlearn_opts_default(&o);
    SET_OK(&o, "surrogate", "bag");
    o.method = "ga";
    o.model_dir = "/nonexistent/lethe/model";
    o.out_dir = "/nonexistent/lethe/out";
    o.forget = "trouser";
    assert_int_equal(unlearn_run(&o), LETHE_ERR_ARG);
    assert_non_null(strstr(lethe_last_error(), "--surrogate is not an option of --method ga; it is used by spare"));
    // retrain takes its recipe from the parent: no option of its own
    o.method = "retrain";
    assert_int_equal(unlearn_run(&o), LETHE_ERR_ARG);
    assert_non_null(strstr(lethe_last_error(), "not an option of --method retrain"));
}

static char *arguments_text(const unlearn_opts *o) {
    cJSON *a = unlearn_arguments_json(o);
    char *s = cJSON_PrintUnformatted(a);
    cJSON_Delete(a);
    return s;
}

static void test_provenance_same_for_both_spellings(void **state) {
    (void)state;
    static const struct { const char *method, *old, *name, *key; } cases[] = {
        {"ga", "alpha", "retain-weight", "retain_weight"},
        {"esd", "alpha", "negative-guidance", "negative_guidance"},
        {"sfd", "alpha", "sid-alpha", "sid_alpha"},
        {"sa", "gamma", "replay-weight", "replay_weight"},
        {"sa", "lambda", "ewc-weight", "ewc_weight"},
        {"vdu", "gamma", "stability-weight", "stability_weight"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        unlearn_opts a, b;
        unlearn_opts_default(&a);
        unlearn_opts_default(&b);
        SET_OK(&a, "forget", "trouser");
        SET_OK(&b, "forget", "trouser");
        SET_OK(&a, cases[i].old, "0.3");       // before the method
        SET_OK(&a, "method", cases[i].method);
        SET_OK(&b, "method", cases[i].method);
        SET_OK(&b, cases[i].name, "0.3");
        char *ta = arguments_text(&a), *tb = arguments_text(&b);
        assert_string_equal(ta, tb);
        cJSON *j = cJSON_Parse(ta);
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, cases[i].key);
        assert_true(cJSON_IsNumber(v));
        assert_true(v->valuedouble == 0.3);   // written as the decimal given, not 0.30000001
        assert_string_equal(cJSON_GetObjectItemCaseSensitive(j, "method")->valuestring, cases[i].method);
        assert_string_equal(cJSON_GetObjectItemCaseSensitive(j, "forget")->valuestring, "trouser");
        assert_null(cJSON_GetObjectItemCaseSensitive(j, "alpha"));
        cJSON_Delete(j);
        free(ta);
        free(tb);
    }
    // the keys lethe.json had: loop options when set, the method's options (defaults too)
    unlearn_opts o;
    unlearn_opts_default(&o);
    SET_OK(&o, "method", "spare");
    SET_OK(&o, "forget", "trouser");
    SET_OK(&o, "surrogate", "bag");
    SET_OK(&o, "forget-images", "16");
    SET_OK(&o, "checkpoint-every", "5");
    char *t = arguments_text(&o);
    cJSON *j = cJSON_Parse(t);
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(j, "surrogate")->valuestring, "bag");
    assert_int_equal(cJSON_GetObjectItemCaseSensitive(j, "forget_images")->valueint, 16);
    assert_int_equal(cJSON_GetObjectItemCaseSensitive(j, "lora_rank")->valueint, 4);
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(j, "timesteps")->valuestring, "concept");
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(j, "lr_schedule")->valuestring, "constant");
    assert_true(cJSON_GetObjectItemCaseSensitive(j, "max_grad_norm")->valuedouble == 1.0);
    assert_int_equal(cJSON_GetObjectItemCaseSensitive(j, "seed")->valueint, 0);
    assert_null(cJSON_GetObjectItemCaseSensitive(j, "steps"));            // unset: the method's, recorded after resolving
    assert_null(cJSON_GetObjectItemCaseSensitive(j, "lora_alpha"));       // unset: the rank
    assert_null(cJSON_GetObjectItemCaseSensitive(j, "checkpoint_every")); // does not change the result
    assert_null(cJSON_GetObjectItemCaseSensitive(j, "out"));
    cJSON_Delete(j);
    free(t);
}

static int valid_name(const char *s) {
    if (!s || !*s || *s == '-') return 0;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '-')) return 0;
    return 1;
}

static size_t type_size(opt_type t) {
    return t == OPT_U64 ? sizeof(uint64_t) : t == OPT_FLOAT ? sizeof(float) : t == OPT_STRING ? sizeof(const char *) : sizeof(int);
}

static void test_tables(void **state) {
    (void)state;
    for (int i = 0; i < unlearn_n_loop_options; i++) {
        const opt_spec *s = &unlearn_loop_options[i];
        assert_true(valid_name(s->name) && s->help && s->help[0]);
        assert_true(s->offset + type_size(s->type) <= sizeof(unlearn_opts));
        assert_ptr_equal(opt_find(unlearn_loop_options, unlearn_n_loop_options, s->name), s);
    }
    for (int i = 0; i < unlearn_method_count(); i++) {
        const unlearn_method *m = unlearn_method_at(i);
        assert_true(m->options_size <= UNLEARN_OPTIONS_BYTES);
        assert_true((m->options == NULL) == (m->n_options == 0));
        for (int k = 0; k < m->n_options; k++) {
            const opt_spec *s = &m->options[k];
            if (!valid_name(s->name) || (s->alias && !valid_name(s->alias)) || !s->help || !s->help[0])
                fail_msg("%s: option '%s' is badly declared", m->name, s->name);
            assert_true(s->offset + type_size(s->type) <= m->options_size);
            assert_true(s->type != OPT_FLAG);   // the CLI reads a flag by the loop's table only
            assert_ptr_equal(opt_find(m->options, m->n_options, s->name), s);   // no two rows of one name
            if (s->alias) assert_ptr_equal(opt_find(m->options, m->n_options, s->alias), s);
            // a method's names never shadow the loop's
            if (opt_find(unlearn_loop_options, unlearn_n_loop_options, s->name) ||
                (s->alias && opt_find(unlearn_loop_options, unlearn_n_loop_options, s->alias)))
                fail_msg("%s: option '%s' clashes with a loop option", m->name, s->name);
            // one type per name and per alias across methods, so a value given before the
            // method is parsed right; a name is never another method's alias
            for (int j = 0; j < unlearn_method_count(); j++) {
                const unlearn_method *n = unlearn_method_at(j);
                for (int q = 0; q < n->n_options; q++) {
                    const opt_spec *r = &n->options[q];
                    int same = !strcmp(r->name, s->name) || (s->alias && r->alias && !strcmp(r->alias, s->alias));
                    if (same && (r->type != s->type || (s->choices && strcmp(r->choices, s->choices))))
                        fail_msg("'%s' of %s and of %s have different types", s->name, m->name, n->name);
                    if (r->alias && !strcmp(r->alias, s->name)) fail_msg("'%s' of %s is an alias in %s", s->name, m->name, n->name);
                }
            }
        }
    }
}

static void test_help_and_markdown(void **state) {
    (void)state;
    char *loop = unlearn_options_help(NULL, 0), *all = unlearn_options_help(NULL, 1), *esd = unlearn_options_help("esd", 1);
    assert_non_null(loop);
    assert_non_null(all);
    assert_non_null(esd);
    // the line bench/unlearn_table.sh and tests/cli/test_unlearn.sh read the methods from
    char line[512];
    snprintf(line, sizeof line, "  --method S                 %s (required)\n", unlearn_method_names());
    assert_non_null(strstr(loop, line));
    assert_non_null(strstr(loop, "--steps N"));
    assert_non_null(strstr(loop, "--lr-schedule constant|cosine"));
    assert_non_null(strstr(all, "--negative-guidance X"));
    assert_non_null(strstr(all, "--retain-weight X"));
    assert_non_null(strstr(all, "(also --alpha)"));
    assert_non_null(strstr(esd, "--negative-guidance X"));
    assert_null(strstr(esd, "--retain-weight"));
    assert_non_null(strstr(esd, "esd (1000 steps, batch 1, lr 1e-05)"));
    char *md = unlearn_options_markdown();
    assert_non_null(md);
    for (int i = 0; i < unlearn_method_count(); i++) {
        const unlearn_method *m = unlearn_method_at(i);
        snprintf(line, sizeof line, "| `%s` |", m->name);
        assert_non_null(strstr(md, line));
        for (int k = 0; k < m->n_options; k++) {
            snprintf(line, sizeof line, "| `%s` | `--%s", m->name, m->options[k].name);
            if (!strstr(md, line)) fail_msg("the Markdown lacks %s", line);
            if (!strstr(all, m->options[k].name)) fail_msg("--help lacks %s", m->options[k].name);
        }
    }
    assert_non_null(strstr(md, "`--lr-schedule constant\\|cosine`"));   // '|' escaped in a table
    free(loop);
    free(all);
    free(esd);
    free(md);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_loop_names),
        cmocka_unit_test(test_bad_values),
        cmocka_unit_test(test_aliases_take_the_methods_meaning),
        cmocka_unit_test(test_option_of_another_method),
        cmocka_unit_test(test_provenance_same_for_both_spellings),
        cmocka_unit_test(test_tables),
        cmocka_unit_test(test_help_and_markdown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
