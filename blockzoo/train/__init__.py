"""Training: recipes (optimiser, schedule, loss), module (the LightningModule), run (train() for one cell and
seed), and the command `python -m blockzoo.train`.

Import from the modules, e.g. ``from blockzoo.train.run import train``; this package imports nothing.
"""
