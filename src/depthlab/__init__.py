"""depthlab: what does depth buy a neural network? Measured, not argued."""
