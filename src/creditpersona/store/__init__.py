"""The embedded store (DuckDB through Ibis) and the loading of source files into it."""
