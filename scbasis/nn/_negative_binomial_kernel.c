/*
 * The NB / ZINB log-likelihood of a minibatch under K families' means, and its derivatives, in
 * vectorised passes over the entries and in parallel over the cells (OpenMP). The file is
 * compiled and called by scbasis/nn/_native_kernel.py.
 *
 * With u = log mu - log theta and s = softplus(u), the family-dependent term of entry
 * (i, j, family k) is
 *   x u - (theta + x) s              for x > 0 (NB and ZINB),
 *   -theta s                         for x = 0 (NB),
 *   softplus(-theta s - pi)          for x = 0 (ZINB, pi the zero-inflation logit).
 * The family-independent terms are added once per (cell, gene), as the weights of each gene sum
 * to 1: lgamma(x + theta) - lgamma(theta) - lgamma(x + 1) at the non-zero counts and, under
 * ZINB, log(1 - sigmoid(pi)) at the non-zero counts and the -softplus(pi) taken out of the
 * zero-count term, together -softplus(-pi) - pi [x > 0].
 *
 * Per-family arrays are family-major: log_mean, d_log_mean and terms are (N, K, d), the family
 * weights w are (K, d). Outputs:
 *   cell_terms[i]       sum_jk w_kj log p(x_ij | family k)                       (N,)
 *   d_log_mean[i,k,j]   w_kj d t_ikj / d log mu                                  (N, K, d)
 *   d_log_theta[i,j]    d cell_terms[i] / d log theta_j                          (N, d)
 *   d_pi[i,j]           d cell_terms[i] / d pi_ij  (ZINB only; may be NULL)      (N, d)
 *   terms[i,k,j]        t_ikj, the family-dependent terms                        (N, K, d)
 * Every array is C-contiguous float32. Both count cases are computed and selected, so that the
 * per-family loop has no branches and the compiler vectorises it with the vector expf / logf
 * of glibc's libmvec under -ffast-math. Linked against libgomp.so.1, the kernel shares the
 * OpenMP thread pool of the libgomp.so.1 that PyTorch's wheels load, so its threads do not
 * compete with PyTorch's. Returns 0, or 1 if scratch memory could not be allocated.
 */
#define _GNU_SOURCE /* lgammaf_r, the thread-safe lgammaf */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

/* The digamma function for x > 0: recurrence up to x >= 6, then the asymptotic series. */
static float digamma(float x)
{
    float shift = 0.f;
    for (; x < 6.f; x += 1.f)
        shift -= 1.f / x;
    const float f = 1.f / (x * x);
    const float series =
        f * (1.f / 12 - f * (1.f / 120 - f * (1.f / 252 - f * (1.f / 240 - f / 132))));
    return shift + logf(x) - 0.5f / x - series;
}

/* out[j] = sum_k values[k * d + j] */
static void sum_families(const float *restrict values, int64_t K, int64_t d, float *restrict out)
{
    for (int64_t j = 0; j < d; ++j)
        out[j] = values[j];
    for (int64_t k = 1; k < K; ++k)
        for (int64_t j = 0; j < d; ++j)
            out[j] += values[k * d + j];
}

int negative_binomial_terms(const float *restrict x, const float *restrict log_mean,
                            const float *restrict log_theta, const float *restrict zi_logits,
                            const float *restrict weights, int64_t n_cells, int64_t n_genes,
                            int64_t n_families, int n_threads, float *restrict cell_terms,
                            float *restrict d_log_mean, float *restrict d_log_theta,
                            float *restrict d_pi, float *restrict terms)
{
    const int64_t d = n_genes, K = n_families, row_length = n_genes * n_families;
    const int zero_inflated = zi_logits != NULL;
    int failed = 0;
#pragma omp parallel num_threads(n_threads) reduction(| : failed)
    {
        /* per-entry copies of per-gene and per-cell values, and per-entry derivatives */
        float *scratch = malloc(sizeof(float) * ((size_t)row_length * 6 + 2 * (size_t)d));
        failed = scratch == NULL;
        float *log_theta_k = scratch, *theta_k = scratch + row_length;
        float *x_k = scratch + 2 * row_length, *pi_k = scratch + 3 * row_length;
        float *d_theta_k = scratch + 4 * row_length, *d_pi_k = scratch + 5 * row_length;
        float *lgamma_theta = scratch + 6 * row_length, *digamma_theta = lgamma_theta + d;
        for (int64_t k = 0; k < K && !failed; ++k)
            for (int64_t j = 0; j < d; ++j) {
                log_theta_k[k * d + j] = log_theta[j];
                theta_k[k * d + j] = expf(log_theta[j]);
            }
        for (int64_t j = 0; j < d && !failed; ++j) {
            int sign;
            lgamma_theta[j] = lgammaf_r(theta_k[j], &sign);
            digamma_theta[j] = digamma(theta_k[j]);
        }
#pragma omp for schedule(static)
        for (int64_t i = 0; i < n_cells; ++i) {
            if (failed)
                continue;
            for (int64_t k = 0; k < K; ++k)
                for (int64_t j = 0; j < d; ++j) {
                    x_k[k * d + j] = x[i * d + j];
                    pi_k[k * d + j] = zero_inflated ? zi_logits[i * d + j] : 0.f;
                }
            const float *restrict row_log_mean = log_mean + i * row_length;
            float *restrict row_d_log_mean = d_log_mean + i * row_length;
            float *restrict row_terms = terms + i * row_length;
            float total = 0.f;
#pragma omp simd reduction(+ : total)
            for (int64_t m = 0; m < row_length; ++m) {
                const float count = x_k[m], theta = theta_k[m], w = weights[m];
                const float u = row_log_mean[m] - log_theta_k[m];
                const float e = expf(-fabsf(u));
                const float s = fmaxf(u, 0.f) + logf(1.f + e);
                const float sigmoid_u = (u >= 0.f ? 1.f : e) / (1.f + e);
                /* x = 0 under ZINB: softplus(v) and its derivative sigmoid(v) (the gate) */
                const float v = -theta * s - pi_k[m];
                const float e_v = expf(-fabsf(v));
                const float gate = zero_inflated ? (v >= 0.f ? 1.f : e_v) / (1.f + e_v) : 1.f;
                const float zero_term =
                    zero_inflated ? fmaxf(v, 0.f) + logf(1.f + e_v) : -theta * s;
                const int positive = count > 0.f;
                const float t = positive ? count * u - (theta + count) * s : zero_term;
                const float d_u = positive ? count - (theta + count) * sigmoid_u
                                           : -theta * sigmoid_u * gate;
                /* d t / d log theta = -d t / d u - theta s (x > 0), times the gate (x = 0) */
                const float theta_s = theta * s * (positive ? 1.f : gate);
                total += w * t;
                row_terms[m] = t;
                row_d_log_mean[m] = w * d_u;
                d_theta_k[m] = -w * (theta_s + d_u);
                d_pi_k[m] = positive ? 0.f : -w * gate;
            }
            float *restrict row_d_log_theta = d_log_theta + i * d;
            float *restrict row_d_pi = zero_inflated ? d_pi + i * d : NULL;
            sum_families(d_theta_k, K, d, row_d_log_theta);
            if (zero_inflated) {
                sum_families(d_pi_k, K, d, row_d_pi);
                /* log(1 - sigmoid(pi)) = -softplus(pi) - ... : -softplus(-pi) - pi [x > 0] */
                float gate_total = 0.f;
#pragma omp simd reduction(+ : gate_total)
                for (int64_t j = 0; j < d; ++j) {
                    const float pi = zi_logits[i * d + j];
                    const int positive = x[i * d + j] > 0.f;
                    const float e = expf(-fabsf(pi));
                    gate_total -= fmaxf(-pi, 0.f) + logf(1.f + e) + (positive ? pi : 0.f);
                    row_d_pi[j] += (pi <= 0.f ? 1.f : e) / (1.f + e) - (positive ? 1.f : 0.f);
                }
                total += gate_total;
            }
            /* lgamma(x + theta) - lgamma(theta) - lgamma(x + 1), zero at x = 0 */
            for (int64_t j = 0; j < d; ++j) {
                const float count = x[i * d + j];
                if (count > 0.f) {
                    const float theta = theta_k[j];
                    int sign;
                    total += lgammaf_r(count + theta, &sign) - lgamma_theta[j] -
                             lgammaf_r(count + 1.f, &sign);
                    row_d_log_theta[j] += theta * (digamma(count + theta) - digamma_theta[j]);
                }
            }
            cell_terms[i] = total;
        }
        free(scratch);
    }
    return failed;
}
