"""``specwire diff OLD NEW``: which changes between two documents break whom.

Both documents are read like ``specwire generate`` reads them (references followed,
traits applied, schemas bundled), then compared message by message, operation by
operation and channel by channel. Every difference becomes a :class:`Finding` with a
stable rule id, a severity, the party it breaks and where it is.

Who breaks
----------

The document describes the server. A message the server sends is *written* by the
server and *read* by clients; a message the server receives is written by clients
and read by the server. A change breaks a party that was built against the old
document when it meets a party built against the new one:

* ``clients``: clients built on the old document, talking to a server on the new
  one. A server-sent message that may now hold what old clients reject (a new enum
  value, a wider type), or a client-sent message whose old form the new server
  refuses (a new required property, a tighter bound), breaks clients.
* ``servers``: servers built on the old document, talking to clients built on the
  new one. A server-sent message whose old form new clients reject (a narrower
  type, a new required property), or a client-sent message new clients *must* write
  in a way old servers refuse (a required property removed, a changed ``const``),
  breaks servers: they have to be upgraded before the clients.

A new client that *chooses* to use what only the new document allows (a new
optional property, a new enum value, a wider type in a request) needs a server on
the new document, exactly as a new request type does: that is not breaking, and
the finding says so. A server cannot make that choice per client, so the same
changes in server-sent messages do break old clients.

Choices
-------

* A message the server starts sending (``message-added``) is not breaking: clients
  must ignore message types they do not know. The generated Python client does (it
  logs and drops a frame it cannot decode); a client that rejects unknown types
  breaks on every such change.
* Every object schema of a specwire document forbids unknown properties
  (``additionalProperties: false``), so an old client drops a whole server frame
  that carries a new optional property: ``optional-property-added`` breaks clients
  when the old schema forbade extras.
* A changed ``format`` is a ``warning``: validators may or may not check formats.
* Schema keywords whose effect cannot be judged (``not``, ``if``/``then``/``else``,
  ``patternProperties``, ``dependencies``...) are reported as ``warning`` too,
  never silently dropped.

The handshake
-------------

Before the first frame, a client has to find the server and be let in:

* Servers are compared by id: their URL (``protocol``, ``host``, ``pathname``), the
  ``enum`` and ``default`` of their URL's variables, and their ``security``. Security
  requirements are alternatives (any one lets a client in), each known by the name
  of its scheme in ``components/securitySchemes`` and compared by its definition
  (type, ``in``, ``name``, ``scheme``, scopes...; descriptions do not count).
* A WebSocket channel binding's ``query`` and ``headers`` are schemas of what the
  client writes in its handshake: they are compared with the same rules as a
  client-sent payload, under ``channels/<id>/bindings/ws/query`` or ``.../headers``.
  A side with no schema counts as ``{"type": "object"}`` (any query, any headers).
* Other keys of a binding, bindings of other protocols, and the bindings of servers,
  operations and messages (traits applied) are compared as written
  (``bindingVersion`` aside): a change is a ``binding-changed`` warning. An
  operation's own ``security`` is compared as a server's is.
"""

from __future__ import annotations

from specwire.contract.diff.cli import add_parser, run
from specwire.contract.diff.differ import diff_documents
from specwire.contract.diff.findings import FORMAT, RULES, DiffReport, Finding

__all__ = [
    "FORMAT",
    "RULES",
    "DiffReport",
    "Finding",
    "add_parser",
    "diff_documents",
    "run",
]
