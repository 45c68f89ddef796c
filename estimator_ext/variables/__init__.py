"""The export's variables, written from the checkpoint without a round trip through memory.

``checkpoint.py`` finds the checkpoint an export reads; ``catalog.py`` reads its metadata
once and checks a mode's variables against it; ``saved_entries.py`` says what a mode's
saver saves; ``strategies.py`` writes the SavedModel's ``variables/`` by copying the
checkpoint, streaming a byte-range subset of it (``bundle_subset.py``, with the tensor
bundle index format in ``bundle_index.py``), or restoring and saving; ``progress.py``
logs the bytes written.
"""
