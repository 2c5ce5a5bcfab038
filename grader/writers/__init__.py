"""Output writers: each turns reports into one format and lives in its own module.

Every writer exposes ``write(reports, destination)``; results never know how they are displayed.
"""
