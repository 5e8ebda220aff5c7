"""The GPU table, in one run on a machine with a CUDA GPU: no host synchronisation in a
training step, then seconds per epoch and cells per second of scbasis and scvi-tools' SCVI on
the same GPU.

1. ``tests/test_host_sync.py``: every model's training steps under CUDA's sync debug mode
   set to ``"error"`` (``torch.cuda.set_sync_debug_mode``), so that a step that waits for the
   GPU fails; and the count of synchronising calls, as on any machine.
2. ``benchmarks/epoch_time.py --accelerator gpu`` at 8,509 x 5,216 and 100,000 x 5,000 for
   BasisDeVAE's defaults (``basis``), the papers' network decoder (``network``) and ``scvi``,
   each at every ``--batch-sizes`` (128, scvi-tools' default, and 1,024): seconds per epoch
   and cells per second (training cells over the median epoch after the first).

::

    python benchmarks/gpu.py                 # about 15 minutes on an H100-class GPU
    python benchmarks/gpu.py --epochs 5 --batch-sizes 128 512 2048
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", nargs="+", default=["8509x5216", "100000x5000"])
    parser.add_argument("--paths", nargs="+", default=["basis", "network", "scvi"])
    parser.add_argument("--batch-sizes", nargs="+", type=int, default=[128, 1024])
    parser.add_argument("--epochs", type=int, default=4)
    args = parser.parse_args()
    import torch

    if not torch.cuda.is_available():
        sys.exit("benchmarks/gpu.py needs a CUDA GPU (torch.cuda.is_available() is False).")
    print(f"GPU: {torch.cuda.get_device_name(0)}, torch {torch.__version__}", flush=True)
    subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-rs", str(ROOT / "tests" / "test_host_sync.py")],
        check=True,
        cwd=ROOT,
    )
    for batch_size in args.batch_sizes:
        command = [sys.executable, str(ROOT / "benchmarks" / "epoch_time.py"), "--accelerator"]
        command += ["gpu", "--paths", *args.paths, "--sizes", *args.sizes, "--no-accuracy"]
        command += ["--epochs", str(args.epochs), "--batch-size", str(batch_size)]
        print(f"\nbatch size {batch_size}:", flush=True)
        subprocess.run(command, check=True, cwd=ROOT)


if __name__ == "__main__":
    main()
