"""Escrow services: agreements, attestations and refunds (intents in the outbox), the sender, the confirmer and
the indexer. Every write to the chain goes through the outbox; every change from the chain through the indexer."""
