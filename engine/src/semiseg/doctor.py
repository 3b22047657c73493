"""`semiseg doctor`: what the engine runs on, and what is missing."""

from __future__ import annotations

import importlib
import platform
import sys

from semiseg import __version__

_PACKAGES = {
    "torch": "torch",
    "torchvision": "torchvision",
    "segmentation_models_pytorch": "segmentation-models-pytorch",
    "lightning": "lightning",
    "rasterio": "rasterio",
    "geopandas": "geopandas",
    "pyogrio": "pyogrio",
    "shapely": "shapely",
    "pydantic": "pydantic",
    "safetensors": "safetensors",
    "numpy": "numpy",
}


def report() -> dict:
    info: dict = {"semiseg": __version__, "python": sys.version.split()[0], "platform": platform.platform()}
    missing = []
    for module, dist in _PACKAGES.items():
        try:
            info[dist] = getattr(importlib.import_module(module), "__version__", "installed")
        except ImportError:
            missing.append(dist)
    if "rasterio" not in missing:
        import rasterio

        info["gdal"] = rasterio.__gdal_version__
    if "torch" not in missing:
        import torch

        info["cuda_available"] = torch.cuda.is_available()
        info["gpus"] = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
        info["cpu_threads"] = torch.get_num_threads()
        info["device"] = "cuda" if torch.cuda.is_available() else "cpu"
        from semiseg.devices import cpu_has_native_bf16

        info["cpu_bfloat16"] = cpu_has_native_bf16()  # train.precision auto trains in bfloat16 on such a CPU
    info["missing"] = missing
    return info
