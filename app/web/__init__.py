"""The live web view: an HTTP server with the overlaid MJPEG stream, status and the page."""
