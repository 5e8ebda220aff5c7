/*
 * BasisDeVAE's three families from the decoder's integrals, and the backward pass, in one pass
 * over the (cell, gene) entries each (OpenMP over genes, vectorised over genes). The formulas
 * are those of scbasis/nn/_families.py; pip install builds this (pyproject.toml) and
 * scbasis/nn/_native_kernel.py calls it.
 *
 * Per cell i and gene j, with F_k = integrals[i, k d + j] and T = moment[i, j]:
 *   increasing  x0_j + F_1
 *   decreasing  x0_j - F_2
 *   transient   log g = log A_j - h^2,  h = (z_i - z0_j) (kappa + softplus(c_j + T - z0_j F_3)),
 *               with a baseline b_j: log g = log b_j + softplus(log A_j - h^2 - log b_j),
 *               returned as log g (log_scale) or g.
 * curves is (N, 3, d) (family-major, blocks in the order INCREASING, DECREASING, TRANSIENT
 * below, which scbasis/nn/_native_kernel.py checks against scbasis.nn.FAMILIES when it loads
 * this library); integrals (N, 3 d) in the same blocks, moment (N, d), all C-contiguous float32.
 * log_baseline may be NULL (no baseline).
 */
#include <float.h>
#include <math.h>

/* The families' blocks of d columns in curves, integrals and their gradients. */
enum { INCREASING = 0, DECREASING = 1, TRANSIENT = 2, N_FAMILIES = 3 };
/* Their names, in that order, comma-separated: read by scbasis/nn/_native_kernel.py. */
const char family_order[] = "increasing,decreasing,transient";

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
#ifdef _OPENMP
#include <omp.h>
#endif

static inline float softplus(float a) { return positive_part(a) + logf(1.f + expf(-fabsf(a))); }

/* x, or 0 if x is subnormal. Matrix products with subnormal operands run many times slower
 * on x86 CPUs, and the transient's gradients underflow where a sigmoid does: flushed here,
 * the integrals' gradients stay fast to multiply (they change by less than FLT_MIN). */
static inline float flush_subnormal(float x) { return fabsf(x) < FLT_MIN ? 0.f : x; }

/* softplus(a), and sigmoid(a) (its derivative) into *sigmoid, from one exponential */
static inline float softplus_sigmoid(float a, float *sigmoid)
{
    const float e = expf(-fabsf(a));
    *sigmoid = (a >= 0.f ? 1.f : e) / (1.f + e);
    return positive_part(a) + logf(1.f + e);
}

void families_forward(const float *restrict z, const float *restrict integrals,
                      const float *restrict moment, const float *restrict x0,
                      const float *restrict centre, const float *restrict offset,
                      const float *restrict log_amplitude, const float *restrict log_baseline,
                      float kappa, int log_scale, int64_t n_cells, int64_t n_genes,
                      int n_threads, float *restrict curves)
{
    const int64_t d = n_genes;
#pragma omp parallel for num_threads(n_threads) schedule(static)
    for (int64_t i = 0; i < n_cells; ++i) {
        const float *restrict row = integrals + i * N_FAMILIES * d;
        const float *restrict row_moment = moment + i * d;
        float *restrict out = curves + i * N_FAMILIES * d;
#pragma omp simd
        for (int64_t j = 0; j < d; ++j) {
            out[INCREASING * d + j] = x0[j] + row[INCREASING * d + j];
            out[DECREASING * d + j] = x0[j] - row[DECREASING * d + j];
            const float slope = kappa + softplus(offset[j] + row_moment[j] - centre[j] * row[TRANSIENT * d + j]);
            const float h = (z[i] - centre[j]) * slope;
            float log_g = log_amplitude[j] - h * h;
            if (log_baseline != NULL)
                log_g = log_baseline[j] + softplus(log_g - log_baseline[j]);
            out[TRANSIENT * d + j] = log_scale ? log_g : expf(log_g);
        }
    }
}

/*
 * Gradients of sum(grad * curves) with respect to the integrals (N, 3 d), the moment (N, d),
 * z (N,) and the per-gene x0, centre, offset, log_amplitude and log_baseline (d,; the last
 * may be NULL). The per-gene values are sums over the cells: the genes are split between the
 * threads, and each thread writes its own partial sums for z, added up afterwards.
 * Returns 0, or 1 if scratch memory could not be allocated.
 */
/* One thread's genes [begin, end) for every cell; has_baseline and log_scale are constants in
 * each of the four inlined copies, so that the vectorised loop has no branches. */
static inline __attribute__((always_inline)) void backward_genes(
    const float *restrict z, const float *restrict integrals, const float *restrict moment,
    const float *restrict centre, const float *restrict offset,
    const float *restrict log_amplitude, const float *restrict log_baseline, float kappa,
    int64_t n_cells, int64_t d, int64_t begin, int64_t end, const float *restrict grad,
    float *restrict d_integrals, float *restrict d_moment, float *restrict d_z_part,
    float *restrict d_x0, float *restrict d_centre, float *restrict d_offset,
    float *restrict d_log_amplitude, float *restrict d_log_baseline, const int has_baseline,
    const int log_scale)
{
    for (int64_t i = 0; i < n_cells; ++i) {
        const float *restrict row = integrals + i * N_FAMILIES * d;
        const float *restrict g = grad + i * N_FAMILIES * d;
        float *restrict d_row = d_integrals + i * N_FAMILIES * d;
        float d_z_i = 0.f;
#pragma omp simd reduction(+ : d_z_i)
        for (int64_t j = begin; j < end; ++j) {
            d_row[INCREASING * d + j] = g[INCREASING * d + j];
            d_row[DECREASING * d + j] = -g[DECREASING * d + j];
            d_x0[j] += g[INCREASING * d + j] + g[DECREASING * d + j];
            const float argument = offset[j] + moment[i * d + j] - centre[j] * row[TRANSIENT * d + j];
            float sigmoid_argument;
            const float slope = kappa + softplus_sigmoid(argument, &sigmoid_argument);
            const float distance = z[i] - centre[j];
            const float h = distance * slope;
            const float raw = log_amplitude[j] - h * h;
            float log_g = raw, d_raw = 1.f;
            if (has_baseline)
                log_g = log_baseline[j] + softplus_sigmoid(raw - log_baseline[j], &d_raw);
            const float d_log_g = log_scale ? g[TRANSIENT * d + j] : g[TRANSIENT * d + j] * expf(log_g);
            if (has_baseline)
                d_log_baseline[j] += d_log_g * (1.f - d_raw);
            const float d_raw_total = d_log_g * d_raw;
            d_log_amplitude[j] += d_raw_total;
            const float d_h = -2.f * h * d_raw_total;
            const float d_argument = d_h * distance * sigmoid_argument;
            d_z_i += d_h * slope;
            d_centre[j] += -d_h * slope - d_argument * row[TRANSIENT * d + j];
            d_offset[j] += d_argument;
            d_moment[i * d + j] = flush_subnormal(d_argument);
            d_row[TRANSIENT * d + j] = flush_subnormal(-d_argument * centre[j]);
        }
        d_z_part[i] = d_z_i;
    }
}

int families_backward(const float *restrict z, const float *restrict integrals,
                      const float *restrict moment, const float *restrict centre,
                      const float *restrict offset, const float *restrict log_amplitude,
                      const float *restrict log_baseline, float kappa, int log_scale,
                      int64_t n_cells, int64_t n_genes, int n_threads,
                      const float *restrict grad, float *restrict d_integrals,
                      float *restrict d_moment, float *restrict d_z, float *restrict d_x0,
                      float *restrict d_centre, float *restrict d_offset,
                      float *restrict d_log_amplitude, float *restrict d_log_baseline)
{
    const int64_t d = n_genes;
    float *d_z_parts = calloc((size_t)n_threads * (size_t)n_cells, sizeof(float));
    if (d_z_parts == NULL)
        return 1;
    for (int64_t j = 0; j < d; ++j) {
        d_x0[j] = d_centre[j] = d_offset[j] = d_log_amplitude[j] = 0.f;
        if (log_baseline != NULL)
            d_log_baseline[j] = 0.f;
    }
#pragma omp parallel num_threads(n_threads)
    {
        int thread = 0, threads = 1;
#ifdef _OPENMP
        thread = omp_get_thread_num();
        threads = omp_get_num_threads();
#endif
        const int64_t begin = d * thread / threads, end = d * (thread + 1) / threads;
        float *d_z_part = d_z_parts + (int64_t)thread * n_cells;
#define BACKWARD_GENES(has_baseline, log_scale)                                                \
    backward_genes(z, integrals, moment, centre, offset, log_amplitude, log_baseline, kappa,     \
                   n_cells, d, begin, end, grad, d_integrals, d_moment, d_z_part, d_x0,         \
                   d_centre, d_offset, d_log_amplitude, d_log_baseline, has_baseline, log_scale)
        if (log_baseline != NULL && log_scale)
            BACKWARD_GENES(1, 1);
        else if (log_baseline != NULL)
            BACKWARD_GENES(1, 0);
        else if (log_scale)
            BACKWARD_GENES(0, 1);
        else
            BACKWARD_GENES(0, 0);
#undef BACKWARD_GENES
    }
    for (int64_t i = 0; i < n_cells; ++i) {
        float total = 0.f;
        for (int t = 0; t < n_threads; ++t)
            total += d_z_parts[(int64_t)t * n_cells + i];
        d_z[i] = total;
    }
    free(d_z_parts);
    return 0;
}
