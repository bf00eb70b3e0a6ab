"""The kiosk and logger as systemd services: the installer, and the app's side of systemd (sd_notify)."""
