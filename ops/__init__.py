"""The table of operations: one entry per op, each in its own file here.

Each entry binds the op's three tiers (references/<op>.py, kernels/<op>.py), how its
cases are drawn, its tolerance model, its bad inputs and its cost model.
"""

from harness.op import Registry
from ops.add_row_sum import ADD_ROW_SUM
from ops.attention import ATTENTION
from ops.conv2d import CONV2D
from ops.cross_entropy import CROSS_ENTROPY
from ops.dropout import DROPOUT
from ops.layer_norm import LAYER_NORM, LAYER_NORM_BACKWARD
from ops.matmul import MATMUL
from ops.rms_norm import RMS_NORM, RMS_NORM_BACKWARD
from ops.scale import SCALE
from ops.softmax import SOFTMAX
from ops.vector_add import VECTOR_ADD

OPS = Registry(
    [
        VECTOR_ADD,
        SCALE,
        DROPOUT,
        ADD_ROW_SUM,
        SOFTMAX,
        CROSS_ENTROPY,
        LAYER_NORM,
        LAYER_NORM_BACKWARD,
        RMS_NORM,
        RMS_NORM_BACKWARD,
        MATMUL,
        ATTENTION,
        CONV2D,
    ],
    module=__name__,
)
