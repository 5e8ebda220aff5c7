"""scbasis's compiled kernels, built when scbasis is installed and used wherever they can run.

* ``_negative_binomial_kernel.c``: the NB / ZINB log-likelihood of a minibatch under every
  family and every derivative the training step needs, the family-dependent terms in one
  branch-free pass that the C compiler vectorises with glibc's vector ``expf`` / ``logf``
  (libmvec); about 4x faster than the same computation in torch operations on the single-cell
  benchmark's minibatch (``benchmarks/likelihood_kernel.py``); and, for each cell's exact
  posterior, the family-dependent terms at chosen points of a grid of latent times, straight
  from the curves on the grid and without derivatives.
* ``_families_kernel.c``: BasisDeVAE's three families from the decoder's integrals, forward and
  backward (``benchmarks/families_kernel.py``).

``pip install`` compiles both sources into one shared library per instruction set,
:data:`KERNEL_MODULES` (``pyproject.toml``, optional extensions: where they cannot be built,
scbasis installs without them). They are compiled with IEEE semantics (no ``-ffast-math``), so a
NaN or an Inf in their inputs reaches their outputs, and loaded with :mod:`ctypes`, with every
function's signature declared in :func:`_load`. They run on ``torch.get_num_threads()`` OpenMP
threads from the pool of the ``libgomp.so.1`` that PyTorch's Linux wheels load, so that their
threads and PyTorch's do not compete for the cores. They are used for float32 tensors on the
CPU of x86-64 Linux machines with glibc 2.22 or newer and an AVX2 or AVX-512 CPU. Anywhere
else, where they were not built, or with ``SCBASIS_NATIVE_KERNEL=0`` in the environment, the
torch implementations are used; both give the same values and gradients (tested).
"""

from __future__ import annotations

import ctypes
import importlib.util
import logging
import os
import platform
import sys
from functools import lru_cache

import torch

logger = logging.getLogger(__name__)

#: Environment variable that turns the compiled kernel off when set to ``0``.
SWITCH = "SCBASIS_NATIVE_KERNEL"
#: The compiled library for each torch CPU capability (built by ``pip install``).
KERNEL_MODULES = {
    "AVX512": "scbasis.nn._kernels_avx512",
    "AVX2": "scbasis.nn._kernels_avx2",
}


def native_kernel_available() -> bool:
    """Whether the compiled kernels (NB / ZINB likelihood, BasisDeVAE's families) are used.

    ``False`` off x86-64 Linux with glibc, without AVX2, where scbasis was installed without
    them (no C compiler at install time), or with ``SCBASIS_NATIVE_KERNEL=0``; the likelihood
    is then computed with torch operations (same results, slower).
    """
    return os.environ.get(SWITCH, "1") != "0" and _load() is not None


def native_kernel_runs_on(tensor: torch.Tensor) -> bool:
    """Whether the compiled kernels compute with ``tensor``: float32 on the CPU, and
    :func:`native_kernel_available`."""
    return (
        tensor.device.type == "cpu" and tensor.dtype == torch.float32 and native_kernel_available()
    )


def _unsupported_reason() -> str | None:
    """Why the kernel cannot run here, or ``None`` if it can."""
    if sys.platform != "linux" or platform.machine() != "x86_64":
        return f"it needs x86-64 Linux, not {sys.platform} on {platform.machine()}"
    libc, version = platform.libc_ver()
    if libc != "glibc" or tuple(int(part) for part in version.split(".")[:2]) < (2, 22):
        return f"it needs glibc >= 2.22 for vector math, found {libc or 'none'} {version}"
    capability = torch.backends.cpu.get_cpu_capability()
    if capability not in KERNEL_MODULES:
        return f"it needs an AVX2 or AVX-512 CPU, torch reports {capability}"
    return None


@lru_cache(maxsize=1)
def _load() -> ctypes.CDLL | None:
    """Load the installed kernel library for this CPU; ``None`` where it cannot be used."""
    reason = _unsupported_reason()
    spec = None
    if reason is None:
        spec = importlib.util.find_spec(KERNEL_MODULES[torch.backends.cpu.get_cpu_capability()])
        if spec is None or spec.origin is None:
            reason = (
                "scbasis was installed without them (no C compiler at install time); "
                "reinstall it with gcc on the PATH to use them"
            )
    if reason is not None:
        logger.info("Compiled kernels not used: %s.", reason)
        return None
    try:
        kernel = ctypes.CDLL(spec.origin)
    except OSError as error:
        logger.warning(
            "Could not load the compiled kernels (%s); using the torch implementations, which "
            "are slower.",
            error,
        )
        return None
    pointer, size, flag = ctypes.c_void_p, ctypes.c_int64, ctypes.c_int
    signatures = {
        "negative_binomial_terms": (flag, [*[pointer] * 5, *[size] * 3, flag, *[pointer] * 5]),
        "negative_binomial_grid_terms": (flag, [*[pointer] * 8, *[size] * 4, flag, pointer]),
        "families_forward": (
            None,
            [*[pointer] * 8, ctypes.c_float, flag, size, size, flag, pointer],
        ),
        "families_backward": (
            flag,
            [*[pointer] * 7, ctypes.c_float, flag, size, size, flag, *[pointer] * 9],
        ),
    }
    for name, (restype, argtypes) in signatures.items():
        function = getattr(kernel, name)
        function.restype, function.argtypes = restype, argtypes
    from ._families import FAMILIES  # imports this module

    address = ctypes.addressof(ctypes.c_char.in_dll(kernel, "family_order"))
    order = ctypes.string_at(address).decode().split(",")
    if tuple(order) != FAMILIES:
        logger.warning(
            "The compiled kernels lay out the families as %s, scbasis.nn.FAMILIES as %s: "
            "reinstall scbasis to rebuild them; using the torch implementations meanwhile.",
            order,
            list(FAMILIES),
        )
        return None
    return kernel


def _float32(tensor: torch.Tensor | None) -> torch.Tensor | None:
    return None if tensor is None else tensor.detach().to("cpu", torch.float32).contiguous()


def _address(tensor: torch.Tensor | None) -> int | None:
    return None if tensor is None else tensor.data_ptr()


def native_negative_binomial_terms(
    x: torch.Tensor,
    log_mean: torch.Tensor,
    log_theta: torch.Tensor,
    zi_logits: torch.Tensor | None,
    weights: torch.Tensor,
) -> tuple[torch.Tensor, ...]:
    """The kernel's terms and derivatives (see ``_negative_binomial_kernel.c``).

    The kernel works family-major: a ``log_mean`` stored as a transposed view of an
    ``(N, K, d)`` array (as :class:`~scbasis.nn.DerivativeDecoder` returns its curves) is read
    in place, any other layout is copied once. The per-family outputs are returned as such
    views too.

    Parameters
    ----------
    x
        Counts, ``(N, d)``.
    log_mean
        Log means per family, ``(N, d, K)``.
    log_theta
        Log inverse dispersions, ``(d,)``.
    zi_logits
        Zero-inflation logits ``(N, d)``, or ``None`` for the negative binomial.
    weights
        Family weights, ``(d, K)``.

    Returns
    -------
    tuple
        cell_terms ``(N,)``, d_log_mean ``(N, d, K)`` (weighted), d_log_theta ``(N, d)``,
        d_pi ``(N, d)`` (``None`` without zero inflation) and terms ``(N, d, K)``; all float32 on
        CPU.
    """
    kernel = _load()
    if kernel is None:
        raise RuntimeError("The compiled kernels are not available on this machine.")
    # family-major (N, K, d) log means and (K, d) weights; copies stay referenced until return
    inputs = [_float32(t) for t in (x, log_mean.transpose(1, 2), log_theta, zi_logits, weights.T)]
    n_cells, n_genes, n_families = log_mean.shape
    cell_terms = torch.empty(n_cells)
    d_log_mean, terms = torch.empty_like(inputs[1]), torch.empty_like(inputs[1])
    d_log_theta = torch.empty(n_cells, n_genes)
    d_pi = None if zi_logits is None else torch.empty(n_cells, n_genes)
    status = kernel.negative_binomial_terms(
        *map(_address, inputs),
        n_cells,
        n_genes,
        n_families,
        torch.get_num_threads(),
        *map(_address, (cell_terms, d_log_mean, d_log_theta, d_pi, terms)),
    )
    if status != 0:
        raise MemoryError("The compiled likelihood kernel could not allocate memory.")
    return cell_terms, d_log_mean.transpose(1, 2), d_log_theta, d_pi, terms.transpose(1, 2)


def native_negative_binomial_grid_terms(
    x: torch.Tensor,
    curves: torch.Tensor,
    points: torch.Tensor,
    shift: torch.Tensor,
    point_shift: torch.Tensor,
    log_theta: torch.Tensor,
    zi_logits: torch.Tensor | None,
    weights: torch.Tensor,
) -> torch.Tensor:
    """The family-dependent part of the NB / ZINB log-likelihood along a grid of latent points,
    without derivatives (``negative_binomial_grid_terms`` in ``_negative_binomial_kernel.c``).

    Parameters
    ----------
    x
        Counts, ``(N, d)``.
    curves
        Link-scale curves on the grid, ``(G, K, d)``.
    points
        Indices into the grid ``(N, W)``: the points at which each cell is evaluated.
    shift
        Each cell's link offsets less ``log theta``, ``(N, d)``.
    point_shift
        Each cell's log library size at each of its points, ``(N, W)``.
    log_theta
        Log inverse dispersions, ``(d,)``.
    zi_logits
        Zero-inflation logits, one per gene ``(d,)``, or ``None`` for the negative binomial.
    weights
        Family weights, ``(d, K)``.

    Returns
    -------
    torch.Tensor
        ``sum_jk w_jk t_iwjk`` ``(N, W)``, float32 on the CPU.
    """
    kernel = _load()
    if kernel is None:
        raise RuntimeError("The compiled kernels are not available on this machine.")
    inputs = (x, curves, shift, point_shift, log_theta, zi_logits, weights.T)
    x, curves, shift, point_shift, log_theta, zi_logits, weights = map(_float32, inputs)
    points = points.detach().to("cpu", torch.int64).contiguous()
    n_points, n_families, n_genes = curves.shape
    if points.numel() and (int(points.min()) < 0 or int(points.max()) >= n_points):
        raise IndexError(f"Grid points must lie in [0, {n_points}).")
    out = torch.empty(points.shape)
    status = kernel.negative_binomial_grid_terms(
        *map(_address, (x, curves, points, shift, point_shift, log_theta, zi_logits, weights)),
        points.shape[0],
        points.shape[1],
        n_genes,
        n_families,
        torch.get_num_threads(),
        out.data_ptr(),
    )
    if status != 0:
        raise MemoryError("The compiled likelihood kernel could not allocate memory.")
    return out


def native_families(
    z: torch.Tensor,
    integrals: torch.Tensor,
    moment: torch.Tensor,
    gene_parameters: tuple[torch.Tensor, ...],
    log_baseline: torch.Tensor | None,
    min_slope: float,
    log_scale: bool,
) -> torch.Tensor:
    """BasisDeVAE's family curves ``(N, 3, d)`` from the integrals (``_families_kernel.c``).

    ``gene_parameters`` are ``x0``, ``centre``, ``offset`` and ``log_amplitude`` ``(d,)``.
    """
    kernel = _load()
    n_cells, n_genes = moment.shape
    curves = torch.empty(n_cells, integrals.shape[1] // n_genes, n_genes)
    inputs = [_float32(t) for t in (z, integrals, moment, *gene_parameters, log_baseline)]
    kernel.families_forward(
        *map(_address, inputs),
        min_slope,
        int(log_scale),
        n_cells,
        n_genes,
        torch.get_num_threads(),
        curves.data_ptr(),
    )
    return curves


def native_families_backward(
    grad: torch.Tensor,
    z: torch.Tensor,
    integrals: torch.Tensor,
    moment: torch.Tensor,
    gene_parameters: tuple[torch.Tensor, ...],
    log_baseline: torch.Tensor | None,
    min_slope: float,
    log_scale: bool,
) -> tuple[torch.Tensor | None, ...]:
    """Gradients of ``sum(grad * curves)`` for :func:`native_families`'s inputs.

    Returns
    -------
    tuple
        ``d z`` ``(N,)``, ``d integrals`` ``(N, 3 d)``, ``d moment`` ``(N, d)``, ``d x0``,
        ``d centre``, ``d offset``, ``d log_amplitude`` and ``d log_baseline`` ``(d,)``
        (``None`` without a baseline).
    """
    kernel = _load()
    n_cells, n_genes = moment.shape
    _, centre, offset, log_amplitude = gene_parameters
    # float32 copies stay referenced here until the kernel has returned
    inputs = [
        _float32(t) for t in (z, integrals, moment, centre, offset, log_amplitude, log_baseline)
    ]
    grad = _float32(grad)
    d_z, d_integrals, d_moment = (torch.empty_like(t) for t in inputs[:3])
    d_genes = [torch.empty(n_genes) for _ in range(4)]
    d_log_baseline = None if log_baseline is None else torch.empty(n_genes)
    status = kernel.families_backward(
        *map(_address, inputs),
        min_slope,
        int(log_scale),
        n_cells,
        n_genes,
        torch.get_num_threads(),
        _address(grad),
        *map(_address, (d_integrals, d_moment, d_z, *d_genes, d_log_baseline)),
    )
    if status != 0:
        raise MemoryError("The compiled decoder kernel could not allocate its scratch space.")
    return d_z, d_integrals, d_moment, *d_genes, d_log_baseline
