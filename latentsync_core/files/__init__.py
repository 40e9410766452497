"""The official model-file table and downloads; reading weight files safely (spandrel_models: for spandrel)."""
