"""The reference console server: cluster engines, the collector, the HTTP API."""
