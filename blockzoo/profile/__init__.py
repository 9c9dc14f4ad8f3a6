"""Profile a cell: parameters, FLOPs (flops) and measured peak memory (memory), train and deploy form.

`python -m blockzoo.profile BLOCK --position P` prints one cell's profile; measure.profile_cell() makes
the record. Import from the modules; this package imports nothing.
"""
