"""The classifier: its images and transforms, model building, checkpoints."""
