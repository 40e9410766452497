"""Face path: landmarks, tracking, geometry, warp, mouth ROI, paste and colour match."""
