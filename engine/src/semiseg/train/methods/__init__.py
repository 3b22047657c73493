"""Training methods by name (job.json `method.name`); one module per method."""

from __future__ import annotations

from pydantic import ValidationError

from semiseg.errors import UserError
from semiseg.train.methods.base import Method, MethodContext
from semiseg.train.methods.aux import Aux
from semiseg.train.methods.cct import CCT
from semiseg.train.methods.mean_teacher import MeanTeacher
from semiseg.train.methods.s6 import S6
from semiseg.train.methods.supervised import Supervised

METHODS: dict[str, type[Method]] = {
    "supervised": Supervised,
    "aux": Aux,
    "s6": S6,
    "cct": CCT,
    "mean_teacher": MeanTeacher,
}
DEFAULT_METHOD = "supervised"


def check_method(name: str, params: dict, where: str = "job.json") -> list[str]:
    """One problem line per bad method name or parameter."""
    if name not in METHODS:
        return [f"{where}: method.name: unknown method {name!r} (known: {', '.join(sorted(METHODS))})"]
    try:
        METHODS[name].Params.model_validate(params)
    except ValidationError as exc:
        return [
            f"{where}: method.{'.'.join(map(str, e['loc']))}: "
            + ("unknown parameter" if e["type"] == "extra_forbidden" else e["msg"].removeprefix("Value error, "))
            for e in exc.errors()
        ]
    return []


def build_method(name: str, params: dict, ctx: MethodContext) -> Method:
    problems = check_method(name, params)
    if problems:
        raise UserError(*problems)
    cls = METHODS[name]
    return cls(ctx, cls.Params.model_validate(params))
