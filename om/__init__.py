"""Client-side services shared by the `om` command, the HTTP API and the worker
process: settings, the Temporal connection, payload encryption, approvals,
the queue snapshot, intake, audit and the reporting projection."""
