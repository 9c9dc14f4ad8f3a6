"""Dynamic inference, BlockDrop (docs/blockdrop.md): a trained cell whose blocks can be skipped per image
(droppable), the policy network and its rewards (policy), the training (module, run), the honest test-time
measurement (measure), the run's table and figures (report), and `python -m blockzoo.dynamic`.
Import from the modules; this package imports nothing.
"""
