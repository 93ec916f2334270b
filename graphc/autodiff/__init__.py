"""Reverse-mode differentiation, graph to graph."""

from graphc.autodiff.gradients import (
    RegisterGradient,
    custom_gradient,
    gradients,
    hessians,
)

__all__ = ["RegisterGradient", "custom_gradient", "gradients", "hessians"]
