"""Deployment side: TFLite / LCE export, flatbuffer runtime and benchmarks."""
