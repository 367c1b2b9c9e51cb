"""The service's routers, one per area of the API."""
