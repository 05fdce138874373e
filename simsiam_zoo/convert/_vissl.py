"""Where a VISSL checkpoint holds the transformer trunk to export (facebookresearch/vissl, the commits cited)."""

from __future__ import annotations

# VISSL's DINO keeps the teacher, the network DINO evaluates, as its loss's `momentum_teacher`, a copy of the whole
# model (trunk and heads; vissl/hooks/dino_hooks.py:43-71@f678f7a5), DDP-wrapped in the code of the model zoo's
# ViT row (:61-64, the commit that added it) and not in that of its XCiT row (dino_hooks.py:71-76@df651add). The
# checkpoint hook saves the loss's state dict as the checkpoint's `loss`, beside `classy_state_dict`, whose
# base_model.model.trunk is the student (vissl/hooks/log_hooks.py:417, 436-443@f678f7a5). VISSL's own teacher
# extraction reads the same two prefixes and writes the teacher as classy_state_dict.base_model.model.trunk
# (vissl/utils/checkpoint.py:1184-1213@09270ed), the last prefix, which is also where a run without a teacher keeps
# its only trunk.
TRUNK_PREFIXES = (
    "loss.momentum_teacher.module.trunk.",
    "loss.momentum_teacher.trunk.",
    "classy_state_dict.base_model.model.trunk.",
)
