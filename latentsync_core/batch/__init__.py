"""Many lip-syncs in one run: ``python -m latentsync_core batch JOBS --output-dir DIR``.

``jobs_file`` reads the rows (CSV or JSON Lines), ``plan`` checks every row before a model loads,
``runner`` runs one row on a pool of loaded models, ``report`` holds each row's outcome, ``engine``
runs the planned rows on an engine (``local``: one process, row after row; ``ray``: an actor pool).
"""
