"""`python -m app eval`: how well a model and its live settings do on labelled clips."""
