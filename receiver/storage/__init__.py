"""SQLite storage, the ground floor of the receiver: every table, its migration and its SQL live here.

`database` (Store, transaction, row fetchers), `migrations`, `incidents`, `outbox` (delivery tables),
`rules` (scheduled-detection tables), `checkpoint` (WAL checkpoints off the writer thread), `retention`
(the prune's batches), `lock` (one receiver process per database file).
"""
