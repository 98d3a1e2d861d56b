"""SBT-Bench: does training make (multi-modal) LLMs more truthful and ethical?"""

from __future__ import annotations

__version__ = "0.1.0"
