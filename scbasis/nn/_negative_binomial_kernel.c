/*
 * The NB / ZINB log-likelihood of a minibatch under K families' means, and its derivatives, in
 * vectorised passes over the entries and in parallel over the cells (OpenMP). pip install builds
 * it (pyproject.toml) and scbasis/nn/_native_kernel.py calls it.
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
 * of glibc's libmvec (declared below). Linked against libgomp.so.1, the kernel shares the
 * OpenMP thread pool of the libgomp.so.1 that PyTorch's wheels load, so its threads do not
 * compete with PyTorch's. Returns 0, or 1 if memory could not be allocated.
 */
#include <math.h>

/* glibc's libmvec vector variants of expf and logf, which <math.h> declares only under
 * -ffast-math: declared here, so that the loops vectorise while IEEE semantics hold (a NaN or
 * an Inf in the inputs reaches the outputs). */
#if defined(__x86_64__) && defined(__GLIBC__)
__attribute__((__simd__("notinbranch"))) float expf(float);
__attribute__((__simd__("notinbranch"))) float logf(float);
#endif

/* max(a, 0) that vectorises without -ffinite-math-only (fmaxf does not); 0 for a NaN, whose
 * NaN the softplus it is part of still returns through its logarithm */
static inline float positive_part(float a) { return a > 0.f ? a : 0.f; }
#include <stdint.h>
#include <stdlib.h>

/*
 * lgamma(z) and digamma(z) for z > 0 without branches, so that loops over them vectorise: for
 * z < 6 the recurrences lgamma(z) = lgamma(z + 6) - log(z (z + 1) ... (z + 5)) and digamma(z) =
 * digamma(z + 6) - sum_m 1 / (z + m) take the argument to w >= 6, where the asymptotic series
 * (Stirling's, to w^-7) are accurate to float precision.
 */
#pragma omp declare simd notinbranch
static inline float log_gamma(float z)
{
    const int small = z < 6.f;
    const float product = z * (z + 1.f) * (z + 2.f) * (z + 3.f) * (z + 4.f) * (z + 5.f);
    const float w = small ? z + 6.f : z;
    const float r = 1.f / w, r2 = r * r;
    const float series = r * (1.f / 12 - r2 * (1.f / 360 - r2 * (1.f / 1260 - r2 / 1680)));
    return (w - 0.5f) * logf(w) - w + 0.918938533f + series - (small ? logf(product) : 0.f);
}

#pragma omp declare simd notinbranch
static inline float digamma(float z)
{
    /* sum_m 1 / (z + m), m = 0..5, as q' / q with q the product of the (z + m) */
    float q = 1.f, dq = 0.f;
    for (int m = 0; m < 6; ++m) {
        dq = dq * (z + (float)m) + q;
        q *= z + (float)m;
    }
    const int small = z < 6.f;
    const float w = small ? z + 6.f : z;
    const float f = 1.f / (w * w);
    const float series =
        f * (1.f / 12 - f * (1.f / 120 - f * (1.f / 252 - f * (1.f / 240 - f / 132))));
    return logf(w) - 0.5f / w - series - (small ? dq / q : 0.f);
}

int negative_binomial_terms(const float *restrict x, const float *restrict log_mean,
                            const float *restrict log_theta, const float *restrict zi_logits,
                            const float *restrict weights, int64_t n_cells, int64_t n_genes,
                            int64_t n_families, int n_threads, float *restrict cell_terms,
                            float *restrict d_log_mean, float *restrict d_log_theta,
                            float *restrict d_pi, float *restrict terms)
{
    const int64_t d = n_genes, K = n_families;
    const int zero_inflated = zi_logits != NULL;
    /* per gene: theta, lgamma(theta) and digamma(theta) */
    float *genes = malloc(sizeof(float) * 3 * (size_t)d);
    if (genes == NULL)
        return 1;
    float *theta = genes, *lgamma_theta = genes + d, *digamma_theta = genes + 2 * d;
#pragma omp simd
    for (int64_t j = 0; j < d; ++j) {
        theta[j] = expf(log_theta[j]);
        lgamma_theta[j] = log_gamma(theta[j]);
        digamma_theta[j] = digamma(theta[j]);
    }
#pragma omp parallel for num_threads(n_threads) schedule(static)
    for (int64_t i = 0; i < n_cells; ++i) {
        const float *restrict row_x = x + i * d;
        const float *restrict row_pi = zero_inflated ? zi_logits + i * d : row_x;
        float *restrict row_d_log_theta = d_log_theta + i * d;
        float *restrict row_d_pi = zero_inflated ? d_pi + i * d : NULL;
        for (int64_t j = 0; j < d; ++j) {
            row_d_log_theta[j] = 0.f;
            if (zero_inflated)
                row_d_pi[j] = 0.f;
        }
        float total = 0.f;
        for (int64_t k = 0; k < K; ++k) {
            const float *restrict row_log_mean = log_mean + (i * K + k) * d;
            const float *restrict w = weights + k * d;
            float *restrict row_d_log_mean = d_log_mean + (i * K + k) * d;
            float *restrict row_terms = terms + (i * K + k) * d;
#pragma omp simd reduction(+ : total)
            for (int64_t j = 0; j < d; ++j) {
                const float count = row_x[j], u = row_log_mean[j] - log_theta[j];
                const float e = expf(-fabsf(u));
                const float s = positive_part(u) + logf(1.f + e);
                const float sigmoid_u = (u >= 0.f ? 1.f : e) / (1.f + e);
                /* x = 0 under ZINB: softplus(v) and its derivative sigmoid(v) (the gate) */
                const float pi = zero_inflated ? row_pi[j] : 0.f;
                const float v = -theta[j] * s - pi;
                const float e_v = expf(-fabsf(v));
                const float gate = zero_inflated ? (v >= 0.f ? 1.f : e_v) / (1.f + e_v) : 1.f;
                const float zero_term =
                    zero_inflated ? positive_part(v) + logf(1.f + e_v) : -theta[j] * s;
                const int positive = count > 0.f;
                const float t = positive ? count * u - (theta[j] + count) * s : zero_term;
                const float d_u = positive ? count - (theta[j] + count) * sigmoid_u
                                           : -theta[j] * sigmoid_u * gate;
                /* d t / d log theta = -d t / d u - theta s (x > 0), times the gate (x = 0) */
                const float theta_s = theta[j] * s * (positive ? 1.f : gate);
                total += w[j] * t;
                row_terms[j] = t;
                row_d_log_mean[j] = w[j] * d_u;
                row_d_log_theta[j] -= w[j] * (theta_s + d_u);
                if (zero_inflated)
                    row_d_pi[j] -= positive ? 0.f : w[j] * gate;
            }
        }
        if (zero_inflated) {
            /* -softplus(-pi) - pi [x > 0] once per entry, and its derivative */
            float gate_total = 0.f;
#pragma omp simd reduction(+ : gate_total)
            for (int64_t j = 0; j < d; ++j) {
                const float pi = row_pi[j];
                const int positive = row_x[j] > 0.f;
                const float e = expf(-fabsf(pi));
                gate_total -= positive_part(-pi) + logf(1.f + e) + (positive ? pi : 0.f);
                row_d_pi[j] += (pi <= 0.f ? 1.f : e) / (1.f + e) - (positive ? 1.f : 0.f);
            }
            total += gate_total;
        }
        /* lgamma(x + theta) - lgamma(theta) - lgamma(x + 1), zero at x = 0 */
        float gamma_total = 0.f;
#pragma omp simd reduction(+ : gamma_total)
        for (int64_t j = 0; j < d; ++j) {
            const float count = row_x[j], shifted = count + theta[j];
            const int positive = count > 0.f;
            const float term = log_gamma(shifted) - lgamma_theta[j] - log_gamma(count + 1.f);
            const float d_term = theta[j] * (digamma(shifted) - digamma_theta[j]);
            gamma_total += positive ? term : 0.f;
            row_d_log_theta[j] += positive ? d_term : 0.f;
        }
        total += gamma_total;
        cell_terms[i] = total;
    }
    free(genes);
    return 0;
}

/*
 * The family-dependent part of the log-likelihood along a grid of latent points, without
 * derivatives: out[i, w] = sum_jk w_kj t_iwkj, t the terms above with
 *   u_iwkj = curves[points[i, w], k, j] + shift[i, j] + point_shift[i, w]
 * (shift: the cell's offsets less log theta, (N, d); point_shift: the log library size at each
 * of its points, (N, W)). curves are (G, K, d), points (N, W) indices into G, zi_logits one per
 * gene (d,) or NULL (NB). The family-independent terms do not depend on the point; the caller
 * adds them once per cell. Returns 0, or 1 if memory could not be allocated.
 */
int negative_binomial_grid_terms(const float *restrict x, const float *restrict curves,
                                 const int64_t *restrict points, const float *restrict shift,
                                 const float *restrict point_shift,
                                 const float *restrict log_theta,
                                 const float *restrict zi_logits, const float *restrict weights,
                                 int64_t n_cells, int64_t n_points, int64_t n_genes,
                                 int64_t n_families, int n_threads, float *restrict out)
{
    const int64_t d = n_genes, K = n_families, W = n_points;
    const int zero_inflated = zi_logits != NULL;
    float *theta = malloc(sizeof(float) * (size_t)d);
    if (theta == NULL)
        return 1;
    for (int64_t j = 0; j < d; ++j)
        theta[j] = expf(log_theta[j]);
#pragma omp parallel for num_threads(n_threads) schedule(static)
    for (int64_t r = 0; r < n_cells * W; ++r) {
        const int64_t i = r / W;
        const float *restrict row_x = x + i * d;
        const float *restrict row_shift = shift + i * d;
        const float *restrict row_pi = zero_inflated ? zi_logits : row_x;
        const float at_point = point_shift[r];
        float total = 0.f;
        for (int64_t k = 0; k < K; ++k) {
            const float *restrict curve = curves + (points[r] * K + k) * d;
            const float *restrict w = weights + k * d;
#pragma omp simd reduction(+ : total)
            for (int64_t j = 0; j < d; ++j) {
                const float count = row_x[j], u = curve[j] + row_shift[j] + at_point;
                const float s = positive_part(u) + logf(1.f + expf(-fabsf(u)));
                const float v = -theta[j] * s - (zero_inflated ? row_pi[j] : 0.f);
                const float zero_term =
                    zero_inflated ? positive_part(v) + logf(1.f + expf(-fabsf(v))) : -theta[j] * s;
                const float t = count > 0.f ? count * u - (theta[j] + count) * s : zero_term;
                total += w[j] * t;
            }
        }
        out[r] = total;
    }
    free(theta);
    return 0;
}
