"""Files stations upload to us (diagnostics, logs), kept on disk and downloadable."""
