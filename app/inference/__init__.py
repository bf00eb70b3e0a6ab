"""The model: runtimes, the streaming engine, frame preprocessing, sampling and labels."""
