"""Development tools (not part of the app or the library): `python -m tools.screenshots` drives the app in Chromium."""
