"""`stsmock drill refresh`: real clients, each in its own process, across credential expiries."""
