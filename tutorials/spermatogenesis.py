# %% [markdown]
# # Mouse spermatogenesis (Ernst et al. 2019) with BasisDeVAE
#
# The single-cell data of both papers: germ cells from spermatogonia to spermatids. The first
# call downloads ArrayExpress / BioStudies E-MTAB-6946 (about 1 GB; set `SCBASIS_DATA_DIR` to
# choose the cache and `SCBASIS_ERNST_URL` for a mirror) and caches the processed `.h5ad`.
# Paper settings: ZINB, beta = 10, gamma = 1, alpha = 0.1, Adam 5e-3, 100 epochs with the
# first 20% annealed.

# %%
import scanpy as sc

import scbasis

adata = scbasis.data.ernst_spermatogenesis()
print(adata)

# %%
adata.layers["counts"] = adata.X.copy()  # the model reads counts; X gets normalised below
scbasis.model.setup_anndata(adata, layer="counts")
model = scbasis.model.BasisDeVAE(adata, beta=10.0, gamma=1.0, alpha=0.1)
model.train(max_epochs=100)
model.write_results(root=("AnnotatedClusters", "Spermatogonia"))

# %%
sc.pp.normalize_total(adata)
sc.pp.log1p(adata)
sc.pp.pca(adata)
sc.pp.neighbors(adata)
sc.tl.umap(adata)
sc.pl.umap(adata, color=["basisdevae_pseudotime", "AnnotatedClusters"], save="_sperm.png")

# %%
genes = ["Stra8", "Sohlh1", "Dmrtb1", "Piwil1", "Tex101", "Ly6k", "Prm1", "Tnp1"]
genes = [g for g in genes if g in adata.var_names]
scbasis.pl.gene_trends(adata, genes, layer="counts", save="_sperm.png")
scbasis.pl.family_heatmap(adata, groupby="AnnotatedClusters", save="_sperm.png")
scbasis.pl.cluster_probabilities(adata, save="_sperm.png")
scbasis.pl.pseudotime(adata, groupby="AnnotatedClusters", save="_sperm.png")
