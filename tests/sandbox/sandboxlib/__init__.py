"""A local stand-in for Entra ID, the Microsoft Graph security API and the Defender XDR API.

Entry point: ``tests/sandbox/server.py``. Documentation: ``docs/sandbox.md``.
"""
