"""polymm: a reconciliation market maker for Polymarket liquidity rewards."""
__version__ = "0.1.0"
