"""Stand-alone simulators of the external services MediaNest talks to (tests and demo mode)."""
