"""Sans-IO core: run state, encoding and the one projection. No files, threads or clocks here."""
