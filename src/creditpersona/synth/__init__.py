"""The synthetic bank: a realistic Chinese corporate loan book with hidden truths."""

from creditpersona.synth.generator import GenerationResult, generate_bank
from creditpersona.synth.shock import Shock

__all__ = ["GenerationResult", "Shock", "generate_bank"]
