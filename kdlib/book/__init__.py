"""The machinery that runs and publishes the book, apart from the mathematics in :mod:`kdlib`.

* :mod:`~kdlib.book.core` — paths, cache folders, provenance and cache-key fingerprints (a leaf).
* :mod:`~kdlib.book.profiles` — each chapter's settings per profile (``smoke``, ``quick``, ``paper``).
* :mod:`~kdlib.book.claims` and :mod:`~kdlib.book.plotting` — a chapter's checked claims and figures.
* :mod:`~kdlib.book.sweeps`, :mod:`~kdlib.book.results`, :mod:`~kdlib.book.executor` — grids of
  independent calls, cached by content, resumable, on a process pool or a dask cluster.
* :mod:`~kdlib.book.notebooks`, :mod:`~kdlib.book.report`, :mod:`~kdlib.book.cli`,
  :mod:`~kdlib.book.sphinxext` — executing chapters with papermill, the generated pages, ``kdbook``.

The mathematics never imports this package (a ruff rule enforces it); this package imports the
mathematics freely. Importing it runs nothing: each module is imported by name.
"""
