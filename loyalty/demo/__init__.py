"""A realistic demo chain with a year of history, built through the services the API uses."""
