"""The app\x27s pages (one module per tab)."""
