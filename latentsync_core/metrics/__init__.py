"""Quality metrics of a lip-synced or restored video: SyncNet lip-sync scores, identity, sharpness, stability."""
