"""The benchmark scripts' tables, in their quick modes: every method runs, every table is whole."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


@pytest.fixture(scope="module")
def benchmarks():
    sys.path.insert(0, str(BENCHMARKS))
    yield
    sys.path.remove(str(BENCHMARKS))


def _table(text: str, title: str) -> pd.DataFrame:
    """The markdown table under ``## title`` in ``text``."""
    section = text.split(f"## {title}")[1].split("\n## ")[0]
    lines = [line for line in section.splitlines() if line.startswith("|")]
    cells = [re.split(r"(?<!\\)\|", line.strip()[1:-1]) for line in lines]  # unescaped |
    rows = [[cell.strip() for cell in row] for row in cells]
    return pd.DataFrame(rows[2:], columns=rows[0])


def test_paper_tables_quick(benchmarks, tmp_path):
    import paper_tables

    out = tmp_path / "tables.md"
    text = paper_tables.main(["--quick", "--out", str(out)])
    assert out.read_text() == text
    assert "paper_tables.py --quick" in text and "scvi-tools" in text
    table_1 = _table(text, "Table 1 of the BasisDeVAE paper")
    assert list(table_1["model"]) == [*paper_tables.TABLE_1_MODELS, "original research code"]
    for column in ("ARI(GT, low)", "ARI(GT, high)", "ARI(low, high)", "ARI(observed, low)"):
        assert column in table_1
    scbasis_rows = table_1.iloc[:-1]
    values = scbasis_rows["ARI(GT, full)"].astype(float)
    assert np.all((values >= -1) & (values <= 1))
    assert table_1.iloc[-1]["ARI(low, high)"] == "0.287 ± 0.010"  # the reference's mean
    figure_1 = _table(text, "Figure 1 of the BasisVAE supplement")
    assert len(figure_1) == 2 * 4  # two panels: k-means and three BasisVAE inferences
    assert figure_1["V-measure"].astype(float).between(0, 1).all()
    table_2 = _table(text, "Table 2 of the BasisDeVAE paper")
    assert list(table_2["model"]) == ["linear VAE", "VAE", "DeVAE (decreasing)"]
    assert np.all(np.isfinite(table_2[r"test log p(X \| Z)"].str.split(" ").str[0].astype(float)))
    table_3 = _table(text, "Table 3 of the BasisDeVAE paper")
    assert list(table_3["method"]) == list(paper_tables.TABLE_3_MODELS)
    trained = table_3[~table_3["method"].str.startswith("BasisVAE")]
    assert (trained["ARI observed"] != "not run").all()
    assert (table_3[table_3["method"].str.startswith("BasisVAE")]["test ELBO"] == "not run").all()
    assert table_3["seconds per epoch"].str.split(" ").str[0].astype(float).gt(0).all()


def test_gene_calls_quick(benchmarks, tmp_path, capsys):
    import gene_calls

    methods = ["basisdevae", "basisdevae_paper", "basisvae", "linear", "pc1", "true_time"]
    argv = ["--setting", "quick", "--seeds", "0", "--epochs", "3", "--out", str(tmp_path)]
    gene_calls.main([*argv, "--methods", *methods])
    rows = pd.read_csv(tmp_path / "quick.csv")
    assert list(rows["method"]) == methods
    assert rows["ari_observed"].between(-1, 1).all() and rows["spearman"].between(0, 1).all()
    assert rows.loc[rows["method"] == "true_time", "spearman"].item() == 1.0
    has_probabilities = rows["method"].isin(methods[:4])
    assert rows.loc[has_probabilities, "n_confident"].notna().all()
    assert rows.loc[~has_probabilities, "n_confident"].isna().all()
    printed = capsys.readouterr().out
    assert "| basisdevae | 1 |" in printed and "basisdevae reliability" in printed
    # a second call resumes: nothing is run again
    gene_calls.main([*argv, "--methods", *methods])
    assert len(pd.read_csv(tmp_path / "quick.csv")) == len(methods)


def test_backed_scale_quick(tmp_path):
    """The scale benchmark end to end at toy sizes: files written, each trained from disk in
    its own process, figures printed."""
    import json
    import subprocess

    command = [
        sys.executable,
        str(BENCHMARKS / "backed_scale.py"),
        "--cells",
        "400",
        "800",
        "--genes",
        "30",
        "--dir",
        str(tmp_path),
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=600, check=True)
    rows = json.loads(result.stdout.strip().splitlines()[-1])
    assert [row["n_cells"] for row in rows] == [400, 800]
    assert all(row["backed"] and row["peak_rss_mib"] > 0 for row in rows)
    assert "peak RSS spread" in result.stdout and "per 1,000 cells" in result.stdout


def test_backed_scale_joint_only_times_each_epoch(tmp_path):
    """``--joint-only``: the joint training's epochs from a file written block by block (more
    than one block), each epoch timed, the linearity line printed."""
    import json
    import subprocess

    import anndata

    command = [sys.executable, str(BENCHMARKS / "backed_scale.py"), "--cells", "12000"]
    command += ["--genes", "60", "--epochs", "2", "--joint-only", "--dir", str(tmp_path)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=600, check=True)
    rows = json.loads(result.stdout.strip().splitlines()[-1])
    assert len(rows[0]["epoch_s"]) == 2 and "write_results_s" not in rows[0]
    assert "against linear from the smallest size: +0.0 %" in result.stdout
    assert rows[0]["median_step_ms"] > 0 and "against the smallest size: +0.0 %" in result.stdout
    written = anndata.read_h5ad(tmp_path / "counts_12000x60.h5ad")
    assert written.shape == (12000, 60) and written.X.nnz > 0
    assert written.obs["true_time"].between(0, 1).all()


def test_backed_reads_prints_both_readers(tmp_path):
    """``backed_reads.py`` at a toy size: a file written, both readers timed, one row each."""
    command = [sys.executable, str(BENCHMARKS / "backed_reads.py"), "--cells", "3000"]
    command += ["--genes", "40", "--batches", "5", "--dir", str(tmp_path)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=600, check=True)
    row = result.stdout.strip().splitlines()[-1].split("|")
    assert row[1].strip() == "3,000 x 40" and row[4].strip().endswith("x")
    assert float(row[2]) > 0 and float(row[3]) > 0


def _epoch_time(*argv: str) -> subprocess.CompletedProcess:
    """``benchmarks/epoch_time.py`` with ``argv``, run to its end."""
    command = [sys.executable, str(BENCHMARKS / "epoch_time.py"), *argv]
    return subprocess.run(command, capture_output=True, text=True, timeout=600)


def _whole_trainings(result: subprocess.CompletedProcess) -> tuple[pd.DataFrame, dict]:
    """The whole-training table printed by ``epoch_time.py`` and its runs (path -> figures)."""
    assert result.returncode == 0, result.stderr
    runs = json.loads(result.stderr.strip().splitlines()[-1])
    return _table(result.stdout, "Whole trainings"), runs


def test_epoch_time_whole_trainings_against_scvi():
    """scbasis's defaults and scvi-tools' SCVI, each trained in its own process on the same
    cells: a row of finite figures each, SCVI's ratios to itself 1, the same held-out cells."""
    argv = ["--sizes", "300x50", "--epochs", "2", "--paths", "basis", "scvi", "--no-accuracy"]
    table, runs = _whole_trainings(_epoch_time(*argv))
    assert list(table["path"]) == ["basis", "scvi"]
    figures = table.drop(columns=["path", "model"]).astype(float)
    assert np.isfinite(figures.to_numpy()).all() and (figures >= 0).all().all()
    assert list(figures["epochs"]) == [2, 2]
    for path, row in figures.iterrows():
        run = runs[table.loc[path, "path"]]
        assert row["s / epoch, all but the first"] == round(run["seconds_per_epoch"], 2)
        assert row["whole training (s)"] == round(run["train_seconds"], 1)
    scvi_row = figures[table["path"] == "scvi"]
    assert (scvi_row[["epochs 2-6 / SCVI's", "last 5 / SCVI's"]] == 1).all().all()
    assert not any("original" in column for column in table.columns)
    assert runs["basis"]["held_out_cells"] == runs["scvi"]["held_out_cells"]
    assert runs["scvi"]["held_out_conditional_ll"] is None
    assert np.isfinite(runs["basis"]["held_out_conditional_ll"])


def test_epoch_time_original_needs_its_code(tmp_path):
    """Asked for the original code without a checkout of it, the benchmark stops before any
    training and says where to get it."""
    result = _epoch_time("--sizes", "300x50", "--paths", "basis", "original", "--no-accuracy")
    assert result.returncode == 2 and result.stdout == ""
    assert "--original-code" in result.stderr
    assert "git clone https://github.com/djdanks/BasisDeVAE" in result.stderr
    result = _epoch_time("--paths", "original", "--original-code", str(tmp_path))
    assert result.returncode == 2 and result.stdout == ""
    assert f"{tmp_path} lacks VAE.py, encoder.py, decoder.py, helpers.py" in result.stderr


@pytest.mark.skipif(
    "BASISDEVAE_ORIGINAL_CODE" not in os.environ,
    reason="needs a checkout of https://github.com/djdanks/BasisDeVAE in BASISDEVAE_ORIGINAL_CODE",
)
def test_epoch_time_original_code():
    """The original research code trains in its own process on the cells of SCVI, for its own
    number of epochs, and the table scales its seconds per epoch to the others' epochs."""
    argv = ["--sizes", "300x50", "--epochs", "2", "--paths", "original", "scvi", "--no-accuracy"]
    argv += ["--original-code", os.environ["BASISDEVAE_ORIGINAL_CODE"], "--original-epochs", "3"]
    table, runs = _whole_trainings(_epoch_time(*argv))
    assert list(table["path"]) == ["original", "scvi"]
    assert list(table["epochs"].astype(int)) == [3, 2]
    ratio = "original s / epoch x 2 epochs / whole training"
    assert list(table[ratio].iloc[:1]) == ["n/a"]
    expected = 2 * runs["original"]["seconds_per_epoch"] / runs["scvi"]["train_seconds"]
    assert float(table[ratio].iloc[1]) == pytest.approx(expected, rel=1e-2)
    original = runs["original"]
    assert len(original["epoch_seconds"]) == 3 and np.isfinite(original["epoch_losses"]).all()
    assert np.isfinite(original["held_out_conditional_ll"])
    assert original["held_out_cells"] == runs["scvi"]["held_out_cells"]


@pytest.mark.skipif(
    torch.cuda.is_available(), reason="checks the message on a machine without a GPU"
)
def test_gpu_benchmark_says_it_needs_a_gpu():
    result = subprocess.run(
        [sys.executable, str(BENCHMARKS / "gpu.py")], capture_output=True, text=True, timeout=120
    )
    assert result.returncode != 0 and "needs a CUDA GPU" in result.stderr


def test_family_fit_prints_every_phase():
    """``family_fit.py`` at a toy size: every phase of ``fit_families`` timed, the losses shown."""
    command = [sys.executable, str(BENCHMARKS / "family_fit.py"), "--size", "400x60"]
    command += ["--epochs", "1", "--family-epochs", "2"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=600, check=True)
    rows = [line.split("|") for line in result.stdout.splitlines() if line.startswith("| `")]
    names = [row[1].strip().strip("`") for row in rows]
    assert names == [
        "_pseudotime_mean_std",
        "_binned_peaks",
        "_fit_family_curves",
        "_family_log_likelihood",
        "family_posterior",
    ]
    assert all(float(row[3]) >= 0 for row in rows)  # each timed, none "not run"
    assert float(rows[2][3]) > 0
    losses = result.stdout.split("family-fit loss per epoch: ")[1]
    assert len(json.loads(losses)) == 2


def test_refinement_bound_times_every_variant():
    """``refinement_bound.py`` at a toy size: the sharpened network needs every refinement
    level, and each variant is timed."""
    command = [sys.executable, str(BENCHMARKS / "refinement_bound.py"), "--size", "400x60"]
    command += ["--epochs", "1", "--sharpen", "100", "--steps", "2", "--repeats", "1"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=600, check=True)
    bound = json.loads(result.stdout.split("bound per level ")[1].split(";")[0])
    assert bound == [45, 12, 3]  # 180 outputs / 4^l, rounded up
    rows = [line.split("|") for line in result.stdout.splitlines() if line.startswith("| ")]
    assert [row[1].strip() for row in rows[1:]] == ["no bound", "bound", "fixed nodes"]
    capacities = {row[1].strip(): json.loads(row[2]) for row in rows[1:]}
    assert capacities["no bound"][2] > 0 and capacities["fixed nodes"] == [0, 0, 0]
    assert all(float(row[3]) > 0 for row in rows[1:])


def test_step_time_times_every_variant():
    """``step_time.py`` at a toy size: scbasis with and without bfloat16 gradients and SCVI,
    each run timed, and the ratios to SCVI's median."""
    command = [sys.executable, str(BENCHMARKS / "step_time.py"), "--size", "300x40"]
    command += ["--steps", "2", "--repeats", "2"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=600, check=True)
    rows = [line.split("|") for line in result.stdout.splitlines() if line.startswith("| ")]
    names = [row[1].strip() for row in rows[1:]]
    assert names == ["scbasis defaults", "scbasis, float32 gradients", "scvi-tools SCVI"]
    for row in rows[1:]:
        runs = [float(value) for value in row[2].split("/")]
        assert len(runs) == 2 and all(value > 0 for value in runs)
        assert float(row[3]) == pytest.approx(float(np.median(runs)), abs=0.06)
    assert float(rows[-1][4]) == 1.0
