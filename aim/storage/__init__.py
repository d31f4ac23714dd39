"""Local storage: files, bytes and SQLite rows. Imports nothing above it."""
