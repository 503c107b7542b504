"""Prices for the example webshop."""

VAT_RATE = 0.21


def price_with_vat(net_cents: int) -> int:
    """Gross price in cents, rounded half up."""
    return (net_cents * int((1 + VAT_RATE) * 100) + 50) // 100


def basket_total(items: list[tuple[int, int]]) -> int:
    """Sum of (net_cents, quantity) lines, VAT included."""
    return sum(price_with_vat(net) * quantity for net, quantity in items)
