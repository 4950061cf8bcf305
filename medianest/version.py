"""MediaNest's own version, shown on Admin → System. Raise it with each release."""

VERSION = "0.11.0"
