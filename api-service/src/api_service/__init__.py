"""REST API over the shared database, for the web app."""
