import unittest

from app.pricing import basket_total, price_with_vat


class PricingTest(unittest.TestCase):
    def test_vat_is_added(self) -> None:
        self.assertEqual(price_with_vat(1000), 1210)

    def test_basket_total(self) -> None:
        self.assertEqual(basket_total([(1000, 2), (500, 1)]), 3025)


if __name__ == "__main__":
    unittest.main()
