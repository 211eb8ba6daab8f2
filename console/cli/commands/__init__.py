"""Command tables, one module per top-level az group (imported only when that group is used)."""
