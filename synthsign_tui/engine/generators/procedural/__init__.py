"""Offline procedural road-sign images: `designs` draws the signs, `scenes` composes them into photos."""

from synthsign_tui.engine.generators.procedural.designs import ProceduralGenerator, draw_sign, render
from synthsign_tui.vocab import DESIGNS

__all__ = ["DESIGNS", "ProceduralGenerator", "draw_sign", "render"]
