"""losses/masked.py: masked cross-entropy against values worked out by hand.

(Named test_masked_loss.py, not test_masked.py: pytest's default import mode needs unique test-file
basenames and tests/models/test_masked.py exists.)
"""

import math

import jax.numpy as jnp
import numpy as np
import pytest

from losses.masked import masked_softmax_ce

# vocab 2: logits (0, 0) give p = (1/2, 1/2); logits (log 3, 0) give p = (3/4, 1/4)
LOGITS = jnp.asarray([[[0.0, 0.0], [math.log(3.0), 0.0], [math.log(3.0), 0.0]]], jnp.float32)
LABELS = jnp.asarray([[0, 0, 1]], jnp.int32)  # per-position CE: log 2, log 4/3, log 4


def test_mask_selects_the_counted_positions():
  mask = jnp.asarray([[True, False, True]])
  # (log 2 + log 4) / 2 = 1.5 log 2
  assert float(masked_softmax_ce(LOGITS, LABELS, mask)) == pytest.approx(1.5 * math.log(2.0), rel=1e-6)
  all_on = jnp.ones((1, 3), bool)
  # (log 2 + log 4/3 + log 4) / 3 = log(32/3) / 3
  assert float(masked_softmax_ce(LOGITS, LABELS, all_on)) == pytest.approx(math.log(32 / 3) / 3, rel=1e-6)


def test_float_mask_equals_bool_mask_and_empty_mask_gives_zero():
  b = jnp.asarray([[False, True, True]])
  f = b.astype(jnp.float32)
  assert float(masked_softmax_ce(LOGITS, LABELS, f)) == float(masked_softmax_ce(LOGITS, LABELS, b))
  # (log 4/3 + log 4) / 2 = log(16/3) / 2
  assert float(masked_softmax_ce(LOGITS, LABELS, b)) == pytest.approx(math.log(16 / 3) / 2, rel=1e-6)
  out = masked_softmax_ce(LOGITS, LABELS, jnp.zeros((1, 3), bool))
  assert np.isfinite(float(out)) and float(out) == 0.0
  assert out.dtype == jnp.float32
