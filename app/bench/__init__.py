"""`python -m app bench`: the model's per-step cost, and the whole pipeline's."""
