"""The command line. It only parses arguments and calls the library or the admin API."""
