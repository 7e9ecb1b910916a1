"""Initial weights, drawn with numpy so that a seed gives the same network on every device."""

import numpy as np


def glorot_uniform(rng, shape):
  """Glorot (Xavier) uniform values as TF's initializer computes the fans."""
  if len(shape) == 1:
    fan_in = fan_out = shape[0]
  else:
    receptive = int(np.prod(shape[:-2])) if len(shape) > 2 else 1
    fan_in, fan_out = shape[-2] * receptive, shape[-1] * receptive
  limit = np.sqrt(6.0 / (fan_in + fan_out))
  return rng.uniform(-limit, limit, size=shape).astype(np.float32)


def zeros_or_glorot(rng, shape):
  """Zeros for a bias (1-D), Glorot uniform for a kernel."""
  return np.zeros(shape, np.float32) if len(shape) == 1 else glorot_uniform(rng, shape)
