"""Integrations: what a run captures from its surroundings (system usage, GPUs via NVML,
terminal output, system params). They produce plain values and call the sinks they are given;
they know nothing of runs. Heavy modules (psutil, pynvml) are imported lazily."""
