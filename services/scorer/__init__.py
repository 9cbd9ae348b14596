"""The score service: synchronous scores and the streaming scorer, serving the model bundle
with onnxruntime. ``services.scorer.core`` holds the pure scoring maths (score scaling,
grades, limits, decisions, calibration, reason codes) and the bundle manifest model."""
