"""Reports of a results table: summary (one row per cell, THE accuracy of a cell), leaderboard, curves,
figures (with style, captions and labels). `python -m blockzoo.visualize` draws the figures of any
results file. Import from the modules; this package imports nothing.
"""
