"""Importing members and order history from the old system's CSV exports.

Members are written set-based, a chunk at a time; orders go through ``post_orders``, the one
earning path, so imported history earns exactly what the API would have given.
"""
