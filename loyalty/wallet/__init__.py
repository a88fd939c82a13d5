"""Stored value (储值): a member's wallet in money, topped up with bonuses, spent at the till."""
