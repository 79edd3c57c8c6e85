"""Everything that talks to or authenticates with Shopify."""
