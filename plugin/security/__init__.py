"""Security building blocks: token encryption, shop-domain validation, tenant-scoped lookups, log
redaction, response headers."""
