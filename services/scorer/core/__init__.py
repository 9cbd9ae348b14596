"""Pure scoring maths: no I/O frameworks, no model runtime. Adapters in ``services.scorer``
run the ONNX model and call these functions with its output."""
