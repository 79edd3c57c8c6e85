"""The pose pipelines: diffusers' own ControlNet pipelines of each family behind one call (`run.PosePipelines`).

Importing `run` imports torch and diffusers: only `model_loader` does, lazily.
"""
