//! Unit tests of the engine's decisions, without ONNX.
