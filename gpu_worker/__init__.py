"""Pose Studio GPU worker: pose detection, retargeting, generation and quality checks.

Never talks to Shopify; never imports torch at import time (the diffusion backend loads lazily).
"""
