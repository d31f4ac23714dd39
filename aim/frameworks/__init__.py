"""Framework integrations: Lightning, Transformers, Keras, XGBoost, LightGBM (see docs/integrations.md).

Import them by Aim's paths (``from aim.pytorch_lightning import AimLogger``); each imports its
framework only then, and names the extra to install when it is missing.
"""
