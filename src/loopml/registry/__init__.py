"""The model registry: what a trained model expects and promises (more to come: versions, aliases)."""
