"""Image generators: the procedural renderer (runs anywhere) and diffusers pipelines (a GPU)."""
