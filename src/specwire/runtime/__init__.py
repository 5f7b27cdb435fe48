"""The hub: connections, subscriptions, fan-out, history, heartbeats, limits; and its transports."""
