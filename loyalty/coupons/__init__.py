"""Coupons: templates, issued coupons with unique codes, and their use at the counter (核销)."""
