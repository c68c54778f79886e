"""Command-line programs that export tfglow models and talk to TF Serving (see export/README.md)."""
