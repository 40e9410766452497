"""The composition layer: options, sources, stages and the streamed jobs (see ``latentsync_core.job``)."""
