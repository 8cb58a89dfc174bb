"""Pure helpers of pdva.core (no Django)."""
