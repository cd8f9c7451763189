"""Test support: AWS fault injection, moto servers and a fault proxy (not tests themselves)."""
