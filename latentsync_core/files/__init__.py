"""The official model-file table and downloads."""
