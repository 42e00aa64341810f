"""Placeholder: the Redis harness lands with the storage-redis issue."""
