"""The core: identity, presence, ledger, rules, events, store and the composition root."""
