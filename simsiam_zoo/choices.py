"""The recipe's switches as types, shared by the recipe, the loss and the model without importing torch (so that
the CLI can read recipes and print its help without loading the deep-learning stack)."""

from __future__ import annotations

from typing import Literal

Similarity = Literal["cosine", "cross_entropy"]
PredictorKind = Literal["mlp", "identity", "fixed_random"]
# Paper Table 3 rows: (a) no BN, (b) hidden layers only, (c) hidden + projection output (default),
# (d) every layer including the prediction output (unstable).
BNPlacement = Literal["none", "hidden", "default", "all"]
Optimizer = Literal["sgd", "lars"]
Precision = Literal["fp32", "bf16"]  # the forward pass of extraction and training
FeatureDtype = Literal["float32", "float16"]  # stored embeddings
FeatureFormat = Literal["safetensors", "npy"]
# Batch order under several ranks: one permutation of everything (the paper's), or each rank its own stretch
# of the data (its own tar shards) shuffled locally (`data.EpochSampler`).
Shuffle = Literal["global", "local"]
# Decoding processes a rank may ask for: a typo of 10**20 forked until the OOM killer came.
MAX_NUM_WORKERS = 256
