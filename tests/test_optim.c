/*
 * test_optim.c: the SGD mode of optim/adamw.c (cfg.kind = OPTIM_SGD) against torch.optim.SGD's
 * documented recurrence (momentum, no dampening, coupled weight decay; nesterov off),
 * computed here in double: g' = c g + wd p, buf = mu buf + g' (buf = g' at the first step,
 * the same as mu * 0 + g'), p -= lr buf, with c = clip_grad_norm_'s coefficient
 * max_norm / (||g|| + 1e-6) when below 1. A mask freezes its zeros (buffer included).
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>

#include <cmocka.h>

#include "ops/ops.h"
#include "optim/adamw.h"

#define N 37

static void run_sgd(float momentum, float wd, float max_norm, int masked) {
    float p[N], g[N], mask[N];
    double pr[N], buf[N] = {0};
    for (int i = 0; i < N; i++) {
        pr[i] = p[i] = 0.1f * (float)((i * 7) % 11) - 0.5f;
        mask[i] = masked && i % 3 == 0 ? 0.0f : 1.0f;
    }
    adamw_state o;
    adamw_config cfg = {.lr = 0.05f, .beta1 = momentum, .weight_decay = wd, .max_grad_norm = max_norm, .kind = OPTIM_SGD};
    float *P = ops()->alloc(sizeof p), *G = ops()->alloc(sizeof g), *M = ops()->alloc(sizeof mask);
    assert_non_null(P);
    assert_non_null(G);
    assert_non_null(M);
    assert_int_equal(adamw_init(&o, &cfg, N), LETHE_OK);
    ops()->to_device(P, p, sizeof p);
    ops()->to_device(M, mask, sizeof mask);
    for (int step = 0; step < 3; step++) {
        double norm2 = 0;
        for (int i = 0; i < N; i++) {
            g[i] = (float)(sin(0.7 * i + step) * (step + 1));
            norm2 += (double)g[i] * g[i];
        }
        ops()->to_device(G, g, sizeof g);
        double gn;
        adamw_update(&o, P, G, masked ? M : NULL, cfg.lr, &gn);
        assert_true(fabs(gn - sqrt(norm2)) < 1e-5 * sqrt(norm2));
        double c = max_norm > 0 && max_norm / (sqrt(norm2) + 1e-6) < 1 ? max_norm / (sqrt(norm2) + 1e-6) : 1.0;
        for (int i = 0; i < N; i++) {
            if (mask[i] == 0) continue;
            buf[i] = momentum * buf[i] + c * g[i] + wd * pr[i];
            pr[i] -= cfg.lr * buf[i];
        }
        ops()->to_host(p, P, sizeof p);
        for (int i = 0; i < N; i++) assert_true(fabs(p[i] - pr[i]) < 1e-5);
    }
    for (int i = 0; i < N; i++)
        if (mask[i] == 0) assert_true(p[i] == 0.1f * (float)((i * 7) % 11) - 0.5f);   // frozen exactly
    adamw_free(&o);
    ops()->release(P);
    ops()->release(G);
    ops()->release(M);
}

static void test_sgd_plain(void **state) { (void)state; run_sgd(0.0f, 0.0f, 0.0f, 0); }
static void test_sgd_momentum_weight_decay(void **state) { (void)state; run_sgd(0.9f, 0.01f, 0.0f, 0); }
static void test_sgd_clipped_masked(void **state) { (void)state; run_sgd(0.5f, 0.0f, 1.0f, 1); }

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sgd_plain),
        cmocka_unit_test(test_sgd_momentum_weight_decay),
        cmocka_unit_test(test_sgd_clipped_masked),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
