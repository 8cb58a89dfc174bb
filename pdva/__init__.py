"""pDVA Registry: clinical registry and outcomes audit for percutaneous deep venous arterialisation."""

__version__ = "0.1.0"
