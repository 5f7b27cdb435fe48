"""Transports: the native websockets server and the ASGI adapter."""
