"""Holding servers and documents to their AsyncAPI spec: the contract runner and the diff."""
