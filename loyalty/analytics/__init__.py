"""Analytics: daily rollups of the ledger and the members, and the dashboard read from them."""
