"""The ``aim`` command line: parses, calls the SDK, prints. Decides nothing."""
