"""Pose Studio Flask app: Shopify auth, webhooks, admin API, embedded pages, job dispatch. Never imports torch."""
