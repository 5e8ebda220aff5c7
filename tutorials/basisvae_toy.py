# %% [markdown]
# # BasisVAE on its reference toy data
#
# The BasisVAE reference implementation's toy: 500 observations, four groups of ten features
# (transient bumps at z = -1.5, 0, 1.5 and a softplus curve), the features of a group equal up
# to a scale in [0.4, 1.6], plus noise of sd 0.2. A scale-invariant BasisVAE should put each
# group on its own basis function. With an over-specified K = 20 (the supplement's Figure 1)
# the Dirichlet prior leaves most basis functions empty.
#
# Run as a script (`python tutorials/basisvae_toy.py`, about two minutes on 2 CPU cores).

# %%
import scvi
from sklearn.metrics import v_measure_score

import scbasis

adata = scbasis.data.basisvae_toy(seed=0)
for n_basis, alpha in ((4, 1.0), (20, 0.1)):
    scvi.settings.seed = 0
    scbasis.model.BasisVAE.setup_anndata(adata)
    model = scbasis.model.BasisVAE(adata, n_basis=n_basis, alpha=alpha)
    model.train(max_epochs=200, batch_size=32, lr=1e-2, train_size=1.0, enable_progress_bar=False)
    labels = model.get_cluster_probabilities().idxmax(axis=1)
    score = v_measure_score(adata.var["true_group"], labels)
    print(f"K = {n_basis:>2}, alpha = {alpha}: V-measure {score:.3f}, {labels.nunique()} used")
