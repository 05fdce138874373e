"""The zoo's Hub format: folders that `timm.create_model("hf-hub:...")` loads without this package."""
