"""The HTTP server stack shared by econe and occi: cheroot listener, request-id logging, daemon control."""
