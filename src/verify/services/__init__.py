"""The Python API: one module per domain noun. Services take an `Archive` explicitly."""
