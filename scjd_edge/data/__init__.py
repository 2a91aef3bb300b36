"""Data layer: skeleton, cameras, file formats, BVH, synthetic motion and training windows."""
