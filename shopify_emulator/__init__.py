"""A local Shopify Admin API for tests, benchmarks and `pose-studio dev` (see README.md here).

from shopify_emulator import ShopifyEmulator
with ShopifyEmulator("key", "secret") as emu:
    emu.add_shop("demo.myshopify.com")
"""

from .emulator import EmuStats, ShopifyEmulator
from .faults import Faults
from .store import EmuMedia, EmuProduct, EmuShop, EmuVariant, MediaStatus

__all__ = [
    "EmuMedia",
    "EmuProduct",
    "EmuShop",
    "EmuStats",
    "EmuVariant",
    "Faults",
    "MediaStatus",
    "ShopifyEmulator",
]
