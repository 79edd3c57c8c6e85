"""The GraphQL documents of usage billing (plugin.services.billing), validated against the pinned schemas with the
rest (tests/plugin/shopify/test_operations_schema.py). No access scope is needed for any of them."""

from __future__ import annotations

from plugin.shopify.operations import Operation

EXAMPLE_LINE_ITEM = "gid://shopify/AppSubscriptionLineItem/10000101?v=1&index=0"

USAGE_FIELDS = """
fragment PoseStudioUsage on AppSubscriptionLineItem {
  id
  plan {
    pricingDetails {
      ... on AppUsagePricing { balanceUsed { amount currencyCode } cappedAmount { amount currencyCode } terms }
    }
  }
}
"""

# One usage line item (no recurring fee): Shopify bills what appUsageRecordCreate adds, up to the capped amount per
# 30 days. The merchant approves it at `confirmationUrl`; the subscription stays PENDING until then.
SUBSCRIPTION_CREATE = Operation(
    "BillingSubscribe",
    """
mutation BillingSubscribe($name: String!, $returnUrl: URL!, $test: Boolean!, $cap: MoneyInput!, $terms: String!) {
  appSubscriptionCreate(
    name: $name
    returnUrl: $returnUrl
    test: $test
    lineItems: [{ plan: { appUsagePricingDetails: { cappedAmount: $cap, terms: $terms } } }]
  ) {
    appSubscription { id status lineItems { ...PoseStudioUsage } }
    confirmationUrl
    userErrors { field message }
  }
}
"""
    + USAGE_FIELDS,
    {"name": "Pose Studio usage", "returnUrl": "https://pose-studio.example.com/billing/return?shop=x.myshopify.com",
     "test": True, "cap": {"amount": "50.00", "currencyCode": "USD"}, "terms": "$0.10 per published image"},
)  # fmt: skip

# One charge per published image. The idempotency key makes a resend (timeout, 5xx, a publish task redelivered)
# answer the first record instead of charging again, so it is safe to resend.
USAGE_RECORD_CREATE = Operation(
    "BillingUsageRecord",
    """
mutation BillingUsageRecord($lineItemId: ID!, $price: MoneyInput!, $description: String!, $key: String!) {
  appUsageRecordCreate(
    subscriptionLineItemId: $lineItemId
    price: $price
    description: $description
    idempotencyKey: $key
  ) {
    appUsageRecord { id idempotencyKey subscriptionLineItem { ...PoseStudioUsage } }
    userErrors { field message }
  }
}
"""
    + USAGE_FIELDS,
    {"lineItemId": EXAMPLE_LINE_ITEM, "price": {"amount": "0.10", "currencyCode": "USD"},
     "description": "Pose Studio: 1 published image", "key": "pose-studio-1-output-2"},
    resend_safe=True,
)  # fmt: skip

ACTIVE_SUBSCRIPTIONS = Operation(
    "BillingActiveSubscriptions",
    """
query BillingActiveSubscriptions {
  currentAppInstallation {
    activeSubscriptions { id name status currentPeriodEnd lineItems { ...PoseStudioUsage } }
  }
}
"""
    + USAGE_FIELDS,
)

BILLING_OPERATIONS: dict[str, Operation] = {
    op.name: op for op in (SUBSCRIPTION_CREATE, USAGE_RECORD_CREATE, ACTIVE_SUBSCRIPTIONS)
}
