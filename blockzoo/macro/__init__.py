"""Macro architectures, a block per stage: the BLOX space (blox, bloxnet) and the zoo's (space), as pipeline
cells (cells), the results dataset and its query API (dataset), search baselines (search), figures (figures),
BLOX's release files (bloxio, bloxrelease) and its own query API (blox_api), and the command
`python -m blockzoo.macro`. Import from the modules; this package imports nothing.
"""
