"""Run the emulator standalone: `python -m shopify_emulator --port 8765 --shop demo.myshopify.com`."""

from __future__ import annotations

import argparse
import os
import time

from .catalog import make_fixture_images
from .emulator import ShopifyEmulator


def main() -> None:
    parser = argparse.ArgumentParser(description="Local Shopify Admin API emulator")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--api-key", default=os.environ.get("SHOPIFY_API_KEY", "emulator-key"))
    parser.add_argument("--api-secret", default=os.environ.get("SHOPIFY_API_SECRET", "emulator-secret"))
    parser.add_argument("--shop", action="append", default=[], help="shop domain (repeatable)")
    parser.add_argument("--plan", default="standard", choices=["standard", "advanced", "plus", "enterprise"])
    parser.add_argument("--products", type=int, default=0, help="extra generated products per shop")
    parser.add_argument("--webhook-url", default=None)
    parser.add_argument("--media-ready-delay", type=float, default=2.0)
    parser.add_argument("--app-config", default=None, metavar="shopify.app.toml",
                        help="the app's CLI configuration: webhook API version and subscribed topics")
    parser.add_argument("--make-fixtures", action="store_true", help="regenerate fixtures/*.jpg and exit")
    args = parser.parse_args()
    if args.make_fixtures:
        for path in make_fixture_images():
            print(path)
        return
    emu = ShopifyEmulator(
        args.api_key,
        args.api_secret,
        webhook_url=args.webhook_url,
        media_ready_delay=args.media_ready_delay,
        app_config=args.app_config,
        host=args.host,
        port=args.port,
    )
    for domain in args.shop or ["demo.myshopify.com"]:
        emu.add_shop(domain, plan=args.plan)
        if args.products:
            emu.add_products(domain, args.products)
    origin = emu.start()
    print(f"Shopify emulator at {origin} (SHOPIFY_ADMIN_ORIGIN={origin}); shops: {', '.join(emu.shops)}")
    for domain in emu.shops:
        print(f"  {domain}: access token {emu.issue_access_token(domain, expires_in=None)}")
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        emu.stop()


if __name__ == "__main__":
    main()
