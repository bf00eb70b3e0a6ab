"""Outputs to a screen or a file: the previews (Tk window, Pi camera), recording and snapshots."""
