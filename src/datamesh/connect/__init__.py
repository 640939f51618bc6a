"""Connect: turn a catalog dataset and a user's platform profile into working connection code.

Pure rendering (no database, no HTTP) so it can be tested exhaustively and reused by the
endpoint, the CLI and the UI preview alike. See ``renderer.render``.
"""
