"""The rules every method of the registry keeps, run over every entry of METHODS.

A new method needs its module and one registry entry; these tests pick it up without anyone
listing it (as a model tester runs over every architecture of a library).
"""

from __future__ import annotations

import math

import pytest
import torch

from method_helpers import CLASSES, domain_batch, make_batch, one_thread, step_at  # noqa: F401 (autouse fixture)
from semiseg.models.network import build_network
from semiseg.train.methods import METHODS, build_method, check_method, describe_methods
from semiseg.train.methods.base import DomainInfo, MethodContext

DOMAINS = (DomainInfo("aerial", list(CLASSES), 3), DomainInfo("seismic", ["sediment", "salt"], 1))


def _context(needs_domains: bool) -> MethodContext:
    """One domain of three bands, or two domains (different classes and bands) for a method that needs them."""
    domains = DOMAINS if needs_domains else (DomainInfo("main", list(CLASSES), 3),)
    return MethodContext(domains, 100, lambda bands, classes: build_network("unet", "resnet18", bands, classes))


def _batch(cls) -> dict:
    """A batch the way the method receives it: per domain when it supports several."""
    if not cls.needs_domains:
        return domain_batch(make_batch(), "main") if cls.supports_domains else make_batch()
    seismic = make_batch(in_channels=1, seed=1)
    seismic["labeled"]["label"] = seismic["labeled"]["label"].where(seismic["labeled"]["label"] < 2, torch.tensor(255))
    return {"domains": {"aerial": make_batch(), "seismic": seismic}}


def test_the_default_method_is_registered():
    assert describe_methods()["default"] in METHODS


@pytest.mark.parametrize("name", sorted(METHODS))
class TestEveryMethod:
    def test_its_defaults_make_a_valid_job(self, name):
        assert check_method(name, {}, list(CLASSES)) == []

    def test_an_unknown_parameter_is_one_line_naming_it(self, name):
        problems = check_method(name, {"no_such_parameter": 1}, list(CLASSES))
        assert problems == ["job.json: method.no_such_parameter: unknown parameter"]

    def test_it_describes_itself_to_clients(self, name):
        info = describe_methods()["methods"][name]
        assert info["summary"] and info["summary"] != name  # the plugin shows it beside the method
        assert info["parameters"]["type"] == "object"
        assert all(isinstance(info[flag], bool) for flag in
                   ("trains_network", "uses_unlabeled", "supports_domains", "needs_domains"))
        assert not info["needs_domains"] or info["supports_domains"]

    def test_a_training_step_gives_a_finite_loss_whose_gradient_reaches_the_network(self, name):
        cls = METHODS[name]
        context = _context(cls.needs_domains)
        if not cls.trains_network:  # fitted by train/forest.py, never stepped
            with pytest.raises(ValueError, match="trains no network"):
                build_method(name, {}, context)
            return
        torch.manual_seed(0)
        method = build_method(name, {}, context)
        loss, parts = method.training_loss(_batch(cls), step_at(50))
        assert loss.dim() == 0 and math.isfinite(loss.item())
        assert all(math.isfinite(float(v)) for v in parts.values())
        loss.backward()
        grads = [p.grad for p in method.parameters() if p.requires_grad and p.grad is not None]
        assert grads and any(g.abs().sum() > 0 for g in grads)
