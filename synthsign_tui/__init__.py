"""SynthSign: train image classifiers on synthetic data and measure how they transfer to real photos."""

__version__ = "0.1.0"
