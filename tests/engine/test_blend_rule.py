"""The gate's blend rule (issue 39): the weight that scores best on the validation blocks, or the
even blend, saying why, where the blocks cannot tell the weights apart."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch.nn as nn

from semiseg.models.blend import BLEND_WEIGHTS, EVEN_BLEND, MIN_VALIDATION_PIXELS, ForestBlend, choose_blend_weight
from semiseg.pipeline.runner import _blended_with_forest

NAMES = ["a", "b"]


def _matrix(correct: int, wrong: int) -> np.ndarray:
    """A two-class confusion of correct + wrong pixels; the wrong ones are class b read as a."""
    half = correct // 2
    return np.array([[half, 0], [wrong, correct - half]], dtype=np.int64)


class _Validator:
    def __init__(self, matrices: dict[float, np.ndarray]):
        self.matrices = matrices

    def __len__(self) -> int:
        return 1

    def blend_confusions(self, model, weights, device):
        return {w: self.matrices[w] for w in weights}


class _Events:
    def __init__(self):
        self.emitted: list[dict] = []

    def emit(self, kind: str, **fields) -> None:
        self.emitted.append({"kind": kind, **fields})


def _gate(matrices: dict[float, np.ndarray]) -> tuple[dict, dict]:
    """Run the export's gate on validation confusions given per weight: (the gate's event, the networks exported)."""
    domain = SimpleNamespace(prepared=SimpleNamespace(name="d"), validator=_Validator(matrices), info=SimpleNamespace(class_names=NAMES))
    params = SimpleNamespace(forest_blend=0.0, blend_on_validation=True)
    events = _Events()
    networks = _blended_with_forest({"d": nn.Identity()}, params, nn.Identity(), domain, SimpleNamespace(latest={}), 5, "cpu", events)
    (gate,) = [e for e in events.emitted if "validation_miou" in e]
    return gate, networks


def test_every_weight_tying_on_validation_falls_back_to_the_even_blend_and_says_so():
    """The demo's case: the blocks score 1.000 at every weight; the old rule gave the network (0)."""
    gate, networks = _gate({w: _matrix(5000, 0) for w in BLEND_WEIGHTS})
    assert gate["forest_blend"] == EVEN_BLEND == 0.5
    assert gate["blend_rule"] == "ties on validation: even blend"
    assert "ties on validation" in gate["message"]
    assert isinstance(networks["d"], ForestBlend) and networks["d"].weight == 0.5


def test_too_few_validation_pixels_fall_back_to_the_even_blend_and_say_so():
    few = MIN_VALIDATION_PIXELS - 1
    matrices = {w: _matrix(few - 10 * i, 10 * i) for i, w in enumerate(BLEND_WEIGHTS)}  # the network scores best
    gate, networks = _gate(matrices)
    assert gate["validation_pixels"] == few
    assert gate["forest_blend"] == 0.5
    assert gate["blend_rule"] == f"{few} validation pixels < {MIN_VALIDATION_PIXELS}: even blend"
    assert networks["d"].weight == 0.5


def test_weights_the_validation_separates_give_the_best_one():
    wrong = {0.0: 300, 0.25: 40, 0.5: 200, 0.75: 250, 1.0: 400}
    gate, networks = _gate({w: _matrix(5000 - n, n) for w, n in wrong.items()})
    assert gate["forest_blend"] == 0.25 and gate["blend_rule"] == "best on validation"
    assert "scores best on the validation blocks" in gate["message"]
    assert gate["validation_miou"]["0.25"] == max(gate["validation_miou"].values())
    assert networks["d"].weight == 0.25


def test_the_network_alone_when_it_scores_best_exports_no_blend():
    gate, networks = _gate({w: _matrix(5000 - int(100 * w), int(100 * w)) for w in BLEND_WEIGHTS})
    assert gate["forest_blend"] == 0.0 and gate["blend_rule"] == "best on validation"
    assert isinstance(networks["d"], nn.Identity)


@pytest.mark.parametrize(
    "miou, expected",
    [
        ({0.0: 0.8, 0.25: 0.9, 0.5: 0.9, 0.75: 0.7, 1.0: 0.9}, 0.5),  # a tie for the best goes to the even blend
        ({0.0: 0.9, 0.25: 0.9, 0.5: 0.8, 0.75: 0.9, 1.0: 0.8}, 0.25),  # ... or the weight nearest it, the network's side first
        ({0.0: 0.5, 0.25: 0.5, 0.5: 0.5, 0.75: 0.5, 1.0: 0.5 + 1e-12}, 0.5),  # within the tolerance: all tie
    ],
)
def test_ties_for_the_best_lean_to_the_even_blend(miou, expected):
    weight, rule = choose_blend_weight(miou, 10_000)
    assert weight == expected


@pytest.mark.parametrize("gate", [True, False])
def test_a_blend_records_its_networks_own_validation_score_beside_its_own(gate):
    """What the ONNX export (the network alone) maps like, for the dock to say before it writes
    one (issue 41, item 3): the gate's weight 0, or the fixed blend's network from the same pass."""
    from semiseg.metrics import scores

    wrong = {0.0: 900, 0.25: 400, 0.5: 200, 0.75: 40, 1.0: 300}
    matrices = {w: _matrix(5000 - n, n) for w, n in wrong.items()}
    domain = SimpleNamespace(prepared=SimpleNamespace(name="d"), validator=_Validator(matrices), info=SimpleNamespace(class_names=NAMES))
    params = SimpleNamespace(forest_blend=0.75, blend_on_validation=gate)
    latest = SimpleNamespace(latest={})
    networks = _blended_with_forest({"d": nn.Identity()}, params, nn.Identity(), domain, latest, 5, "cpu", _Events())
    assert networks["d"].weight == 0.75
    recorded = latest.latest["d"]
    assert recorded["miou"] == pytest.approx(scores(matrices[0.75], NAMES)["miou"])
    assert recorded["network_alone"] == pytest.approx({k: scores(matrices[0.0], NAMES)[k] for k in ("oa", "miou")})
    assert recorded["network_alone"]["miou"] < recorded["miou"]
