"""Training methods by name (job.json `method.name`); one module per method."""

from __future__ import annotations

import sys

from pydantic import ValidationError

from semiseg.errors import UserError
from semiseg.jobs.spec import DEFAULT_METHOD
from semiseg.train.methods.base import Method, MethodContext
from semiseg.train.methods.aux import Aux
from semiseg.train.methods.cct import CCT
from semiseg.train.methods.mean_teacher import MeanTeacher
from semiseg.train.methods.pixel_forest import PixelForest
from semiseg.train.methods.s6 import S6
from semiseg.train.methods.supervised import Supervised
from semiseg.train.methods.usss import USSS

# In the order clients offer them after the default: best measured first (docs/benchmarks.md).
METHODS: dict[str, type[Method] | type[PixelForest]] = {
    "mean_teacher": MeanTeacher,
    "supervised": Supervised,
    "pixel_forest": PixelForest,
    "aux": Aux,
    "s6": S6,
    "cct": CCT,
    "usss": USSS,
}


def describe_methods() -> dict:
    """What a client (the plugin) needs to offer the methods: summary, parameters as JSON schema, default."""
    methods = {}
    for name, cls in METHODS.items():
        doc = (sys.modules[cls.__module__].__doc__ or cls.__doc__ or "").strip()
        methods[name] = {
            "summary": doc.splitlines()[0] if doc else name,
            "trains_network": cls.trains_network,
            "uses_unlabeled": cls.uses_unlabeled,
            "supports_domains": cls.supports_domains,
            "needs_domains": cls.needs_domains,
            "default_arch": cls.default_arch,
            "parameters": cls.Params.model_json_schema(),
        }
    return {"default": DEFAULT_METHOD, "methods": methods}


def resolved_arch(method_name: str, arch: str | None) -> str:
    """The architecture a job trains: its own, else its method's default (s6: DeepLabV3+)."""
    if arch:
        return arch
    return METHODS[method_name].default_arch if method_name in METHODS else Method.default_arch


def check_method(name: str, params: dict, class_names: list[str], where: str = "job.json") -> list[str]:
    """One problem line per bad method name or parameter."""
    if name not in METHODS:
        return [f"{where}: method.name: unknown method {name!r} (known: {', '.join(sorted(METHODS))})"]
    try:
        return METHODS[name].Params.model_validate(params).problems(class_names)
    except ValidationError as exc:
        return [
            f"{where}: method.{'.'.join(map(str, e['loc']))}: "
            + ("unknown parameter" if e["type"] == "extra_forbidden" else e["msg"].removeprefix("Value error, "))
            for e in exc.errors()
        ]


def build_method(name: str, params: dict, ctx: MethodContext) -> Method:
    problems = check_method(name, params, list(dict.fromkeys(n for d in ctx.domains for n in d.class_names)))
    if problems:
        raise UserError(*problems)
    cls = METHODS[name]
    if not cls.trains_network:
        raise ValueError(f"{name} trains no network: train/forest.py fits it")
    return cls(ctx, cls.Params.model_validate(params))
