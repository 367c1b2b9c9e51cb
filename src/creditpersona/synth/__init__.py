"""The synthetic bank: a realistic Chinese corporate loan book with hidden truths."""

from creditpersona.synth.generator import GenerationResult, generate_bank

__all__ = ["GenerationResult", "generate_bank"]
