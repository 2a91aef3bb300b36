"""Export: ONNX (parity-gated), FP16 and INT8 QDQ ONNX, TensorRT engines, and predictors.

`exporter.export_checkpoint` is what `scjd-edge export` runs; `runtime.load_predictor` runs
any artifact (or a checkpoint) with the same pre- and post-processing.
"""
