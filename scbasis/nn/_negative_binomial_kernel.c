/*
 * Family-dependent terms of the NB / ZINB log-likelihood of a minibatch and their derivatives,
 * in one vectorised pass over the entries and in parallel over the cells (OpenMP). The file is
 * compiled and called by scbasis/nn/_native_kernel.py.
 *
 * With u = log mu - log theta and s = softplus(u), the term of entry (i, j, family k) is
 *   x u - (theta + x) s              for x > 0 (NB and ZINB),
 *   -theta s                         for x = 0 (NB),
 *   softplus(-theta s - pi)          for x = 0 (ZINB, pi the zero-inflation logit).
 * Per-family arrays are family-major: log_mean, d_log_mean and terms are (N, K, d), the
 * family weights w are (K, d). Outputs:
 *   cell_terms[i]       sum_jk w_kj t_ikj                                        (N,)
 *   d_log_mean[i,k,j]   w_kj d t_ikj / d log mu                                  (N, K, d)
 *   d_log_theta[i,j]    sum_k w_kj d t_ikj / d log theta                         (N, d)
 *   d_pi[i,j]           sum_k w_kj d t_ikj / d pi  (ZINB only; may be NULL)      (N, d)
 *   terms[i,k,j]        t_ikj                                                    (N, K, d)
 * Every array is C-contiguous float32. Entries are computed for both
 * count cases and selected, so that the loop has no branches and the compiler vectorises it,
 * with the vector expf / logf of glibc's libmvec under -ffast-math. Linked against
 * libgomp.so.1, it shares the OpenMP thread pool that PyTorch's wheels load, so its threads do
 * not compete with PyTorch's. Returns 0, or 1 if scratch memory could not be allocated.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

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
        float *scratch = malloc(sizeof(float) * (size_t)row_length * 6);
        failed = scratch == NULL;
        float *log_theta_k = scratch, *theta_k = scratch + row_length;
        float *x_k = scratch + 2 * row_length, *pi_k = scratch + 3 * row_length;
        float *d_theta_k = scratch + 4 * row_length, *d_pi_k = scratch + 5 * row_length;
        for (int64_t k = 0; k < K && !failed; ++k)
            for (int64_t j = 0; j < d; ++j) {
                log_theta_k[k * d + j] = log_theta[j];
                theta_k[k * d + j] = expf(log_theta[j]);
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
            cell_terms[i] = total;
            sum_families(d_theta_k, K, d, d_log_theta + i * d);
            if (zero_inflated)
                sum_families(d_pi_k, K, d, d_pi + i * d);
        }
        free(scratch);
    }
    return failed;
}
