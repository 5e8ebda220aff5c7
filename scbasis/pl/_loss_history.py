"""Each ELBO term over the epochs of a model's training."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd
from matplotlib.axes import Axes

from ._figure import finish, panel_grid, plot_dsp

#: Suffixes scvi-tools gives a metric's training and validation values in ``model.history``.
_SPLITS = {"_train": "training", "_validation": "validation"}
#: The total loss, which scvi-tools names by prefix instead.
_LOSS = {"train_loss": "training", "validation_loss": "validation"}


def history_terms(history: dict[str, pd.DataFrame]) -> dict[str, dict[str, pd.Series]]:
    """``model.history`` grouped by term: ``{term: {"training": values, "validation": ...}}``,
    each indexed by epoch (the total loss as ``"loss"``)."""
    terms: dict[str, dict[str, pd.Series]] = {}
    for name, frame in history.items():
        if name in _LOSS:
            terms.setdefault("loss", {})[_LOSS[name]] = frame.iloc[:, 0]
        for suffix, split in _SPLITS.items():
            if name.endswith(suffix):
                terms.setdefault(name.removesuffix(suffix), {})[split] = frame.iloc[:, 0]
    return terms


@plot_dsp.dedent
def loss_history(
    model,
    terms: Sequence[str] | None = None,
    *,
    ncols: int = 3,
    figsize: tuple[float, float] | None = None,
    show: bool | None = None,
    save: bool | str | None = None,
) -> list[Axes] | None:
    """Each term of the objective over the epochs, training and validation side by side.

    Parameters
    ----------
    model
        A trained scbasis model (``model.history`` as scvi-tools records it).
    terms
        Terms to draw (e.g. ``"loss"``, ``"elbo"``, ``"reconstruction_loss"``,
        ``"kl_local"``); all that have a training or validation series if ``None``. Validation
        series exist where the model was trained with ``train_size < 1`` and
        ``check_val_every_n_epoch``.
    ncols
        Panels per row.
    figsize
        Size of the figure; 3.2 x 2.6 inches per panel if ``None``.
    %(param_show)s
    %(param_save)s

    Returns
    -------
    list of matplotlib.axes.Axes or None
        The axes, one per term, unless the figure is shown.
    """
    history = getattr(model, "history", None)
    if not history:
        raise ValueError("the model has no training history; train it first (model.train()).")
    grouped = history_terms(history)
    terms = list(grouped) if terms is None else list(terms)
    missing = [t for t in terms if t not in grouped]
    if missing:
        raise KeyError(f"{missing} have no history; the model recorded {sorted(grouped)}.")
    fig, axs = panel_grid(len(terms), ncols, (3.2, 2.6), figsize)
    for term, ax in zip(terms, axs, strict=True):
        for split, color in (("training", "C0"), ("validation", "C1")):
            if split in grouped[term]:
                values = grouped[term][split]
                ax.plot(values.index, values.to_numpy(), label=split, color=color, lw=1.5)
        ax.set_title(term.replace("_", " "), fontsize=10)
        ax.set_xlabel("epoch")
        ax.spines[["top", "right"]].set_visible(False)
    axs[0].legend(fontsize=8, frameon=False)
    fig.tight_layout()
    return finish(fig, "loss_history", show, save, axs)
