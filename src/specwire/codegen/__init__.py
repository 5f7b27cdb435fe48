"""AsyncAPI 3 document -> IR -> emitters."""
