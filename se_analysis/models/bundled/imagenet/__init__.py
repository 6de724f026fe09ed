"""The default: Google's MobileNetV3-Small, converted from TFLite, with its fidelity checks and card."""

from .card import write_model_card
from .convert import (
    TFLITE_SOURCE,
    TIMM_ARCH,
    ConversionReport,
    build_timm_mobilenetv3,
    convert_tflite,
    dequantize,
    tflite_interpreter,
    write_converted,
)
from .fidelity import (
    TFLITE_GATE_TENSORS,
    TFLITE_LOGITS,
    InterpreterOutputs,
    fidelity_tables,
    run_interpreter,
    run_torch,
)
from .preprocess import (
    CENTRAL_FRACTION,
    INPUT_SCALE,
    INPUT_ZERO_POINT,
    TFInput,
    float_input,
    tf_uint8_image,
)

__all__ = [
    "write_model_card",
    "TIMM_ARCH",
    "TFLITE_SOURCE",
    "ConversionReport",
    "tflite_interpreter",
    "dequantize",
    "convert_tflite",
    "build_timm_mobilenetv3",
    "write_converted",
    "TFLITE_GATE_TENSORS",
    "TFLITE_LOGITS",
    "InterpreterOutputs",
    "run_interpreter",
    "run_torch",
    "fidelity_tables",
    "INPUT_ZERO_POINT",
    "INPUT_SCALE",
    "CENTRAL_FRACTION",
    "tf_uint8_image",
    "float_input",
    "TFInput",
]
