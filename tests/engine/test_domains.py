"""Several domains (label spaces) in one job: USSS (shared encoder and decoder) and CCT (shared
encoder, per-domain decoders); each domain's head sees only its own labels."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import rasterio
import torch
from safetensors.torch import load_file

from conftest import CLASSES, events_of, sparse_labels, start_training, two_class_scene, wait_for_step, write_raster
from semiseg.cli import main
from semiseg.errors import UserError
from semiseg.jobs.spec import parse_job
from semiseg.models.network import build_network
from semiseg.train.methods import build_method
from semiseg.train.methods.base import DomainInfo, MethodContext, StepInfo

SALT = [{"id": 0, "name": "sediment", "color": "#c0c0c0"}, {"id": 1, "name": "salt", "color": "#ff00ff"}, {"id": 2, "name": "other", "color": "#000000"}]


def _ctx(domains):
    return MethodContext(tuple(domains), 10, lambda c, k: build_network("unet", "resnet18", c, k))


def _method(name, **params):
    torch.manual_seed(0)
    domains = [DomainInfo("aerial", ["dark", "bright"], 3), DomainInfo("seismic", ["sediment", "salt", "other"], 1)]
    return build_method(name, params, _ctx(domains))


def _usss(**params):
    return _method("usss", **params)


def _cct(**params):
    return _method("cct", decoders={"vat": 0, "cutout": 0, "dropout": 0}, confidence=None, **params)


def _batch(labelled_b: bool = True):
    g = torch.Generator().manual_seed(0)

    def part(bands, classes, labelled):
        label = torch.randint(0, classes, (2, 32, 32), generator=g)
        if not labelled:
            label[:] = 255
        return {
            "labeled": {"image": torch.randn(2, bands, 32, 32, generator=g), "label": label, "valid": torch.ones(2, 32, 32, dtype=torch.bool)},
            "unlabeled": {"image": torch.randn(2, bands, 32, 32, generator=g), "valid": torch.ones(2, 32, 32, dtype=torch.bool)},
        }

    return {"domains": {"aerial": part(3, 2, True), "seismic": part(1, 3, labelled_b)}}


def _step(progress=1.0):
    return StepInfo(int(progress * 10), 10, torch.Generator().manual_seed(1))


def _convolutions_and_norms(module):
    convs = [m for m in module.modules() if isinstance(m, torch.nn.Conv2d)]
    norms = [m for m in module.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    return convs, norms


def test_usss_domains_share_encoder_and_decoder_but_not_heads_stems_or_batchnorm():
    method = _usss()
    a, b = method.network_of("aerial"), method.network_of("seismic")
    for part in ("encoder", "decoder"):
        (convs_a, norms_a), (convs_b, norms_b) = _convolutions_and_norms(getattr(a, part)), _convolutions_and_norms(getattr(b, part))
        shared = [x is y for x, y in zip(convs_a, convs_b)]
        assert all(shared[1:]) if part == "encoder" else all(shared)  # encoder: all but the stem
        assert norms_a and not any(x is y for x, y in zip(norms_a, norms_b))
    assert a.encoder.conv1 is not b.encoder.conv1  # 3 bands vs 1 band
    assert a.segmentation_head[0].out_channels == 2 and b.segmentation_head[0].out_channels == 3


@pytest.mark.parametrize("name", ["usss", "cct"])
def test_training_one_domain_leaves_the_other_domains_inference_unchanged(name):
    """Shared layers, own BatchNorm statistics: another domain's images must not shift a domain's exported model."""
    method = _usss() if name == "usss" else _cct()
    aerial, seismic = method.inference_networks()["aerial"], method.inference_networks()["seismic"]
    x = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(5))
    method.eval()
    with torch.no_grad():
        before = aerial(x)
    method.train()
    with torch.no_grad():
        seismic(10 + 5 * torch.randn(4, 1, 32, 32))  # updates seismic's running statistics only
    method.eval()
    with torch.no_grad():
        assert torch.equal(aerial(x), before)


def test_each_head_learns_only_from_its_own_domains_labels():
    method = _usss(alpha=0.0, beta=0.0)
    loss, _ = method.training_loss(_batch(labelled_b=False), _step())
    loss.backward()
    head_a, head_b = method.network_of("aerial").segmentation_head[0], method.network_of("seismic").segmentation_head[0]
    assert head_a.weight.grad is not None and head_a.weight.grad.abs().sum() > 0
    assert head_b.weight.grad is None or head_b.weight.grad.abs().sum() == 0
    assert method.network_of("seismic").encoder.layer4[0].conv1.weight.grad.abs().sum() > 0  # shared, from domain a


def _structured_aerial(batch):
    """Aerial labels by image half (left "dark", right "bright", top rows unlabelled), each half its own content."""
    lab = batch["domains"]["aerial"]["labeled"]
    label = torch.zeros(2, 32, 32, dtype=torch.long)
    label[:, :, 16:] = 1
    label[:, :2] = 255
    signature = torch.tensor([3.0, -3.0, 3.0])[:, None, None]
    image = 0.3 * torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(3))
    image[..., :16] += signature
    image[..., 16:] -= signature
    lab["image"], lab["label"] = image, label
    return lab


def test_prototypes_are_the_mean_embedding_of_their_own_classes_labelled_pixels():
    """Each class's regions differ, so its prototype matches its own mean embedding and not the other class's."""
    method = _usss()
    batch = _batch()
    lab = _structured_aerial(batch)
    method.training_loss(batch, _step(0.0))
    with torch.no_grad():
        _, emb = method._forward("aerial", lab["image"])  # train mode, same batch: the same embeddings as the loss pass
    protos, seen = method.prototypes("aerial")
    assert seen.all()
    means = [torch.nn.functional.normalize(emb.permute(0, 2, 3, 1)[lab["label"] == c].mean(0), dim=0) for c in range(2)]
    cos = torch.tensor([[float(torch.nn.functional.cosine_similarity(protos[c], m, dim=0)) for m in means] for c in range(2)])
    # Measured: 1.0 on the diagonal, ~0.94 off it, so a class mix-up (or one mean for all classes) fails.
    assert (cos.diagonal() > 0.999).all()
    assert (cos.diagonal() - cos.flip(1).diagonal() > 0.02).all()


def test_entropy_terms_train_the_embedding_and_are_off_during_warm_up():
    """The embedding enters the loss only through the entropy terms: no gradient in the warm-up, some after."""
    method = _usss(alpha=1.0, beta=1.0)
    batch = _batch()
    method.training_loss(batch, _step(0.0))  # fills the prototypes
    loss, parts = method.training_loss(batch, _step(0.0))
    assert parts["w_u"] == 0.0
    loss.backward()
    assert method.embedding.weight.grad is None or method.embedding.weight.grad.abs().sum() == 0
    method.zero_grad()
    loss, parts = method.training_loss(batch, _step(1.0))
    assert parts["w_u"] == pytest.approx(1.0) and parts["within"] > 0 and parts["cross"] > 0
    loss.backward()
    assert method.embedding.weight.grad.abs().sum() > 0


def test_cct_domains_share_the_encoder_only():
    method = _cct()
    a, b = method.branch("aerial"), method.branch("seismic")
    assert a.network.encoder.layer3[0].conv1 is b.network.encoder.layer3[0].conv1
    assert a.network.encoder.layer3[0].bn1 is not b.network.encoder.layer3[0].bn1
    assert a.network.encoder.conv1 is not b.network.encoder.conv1  # 3 bands vs 1 band
    assert not any(x is y for x, y in zip(a.network.decoder.parameters(), b.network.decoder.parameters()))
    assert a.network.segmentation_head[0].out_channels == 2 and b.network.segmentation_head[0].out_channels == 3
    assert [d.branch[1][0].out_channels for d in b.aux_decoders] == [3] * len(b.aux_decoders)


def _grad(module):
    return sum(float(p.grad.abs().sum()) for p in module.parameters() if p.grad is not None)


def test_cct_main_decoder_of_an_unlabelled_domain_learns_nothing_while_its_consistency_trains():
    method = _cct()
    loss, parts = method.training_loss(_batch(labelled_b=False), _step(1.0))
    loss.backward()
    seismic = method.branch("seismic")
    assert parts["w_u"] == 30.0 and parts["unsup"] > 0
    assert _grad(seismic.network.decoder) == 0 and _grad(seismic.network.segmentation_head) == 0
    assert all(_grad(aux) > 0 for aux in seismic.aux_decoders)
    assert _grad(seismic.network.encoder.conv1) > 0  # its own stem learns from its unlabeled rasters
    assert _grad(method.branch("aerial").network.segmentation_head) > 0


def _aux_gradients(method, batch):
    method.zero_grad()
    loss, _ = method.training_loss(batch, _step(1.0))
    loss.backward()
    return {name: [_grad(aux) for aux in method.branch(name).aux_decoders] for name in ("aerial", "seismic")}


def test_cct_consistency_of_a_domain_uses_that_domains_unlabeled_windows():
    method = _cct()
    batch = _batch()
    base = _aux_gradients(method, batch)
    batch["domains"]["seismic"]["unlabeled"]["image"] = torch.randn(2, 1, 32, 32, generator=torch.Generator().manual_seed(9))
    other_windows = _aux_gradients(method, batch)
    assert other_windows["seismic"] != base["seismic"] and other_windows["aerial"] == base["aerial"]
    batch["domains"]["seismic"]["unlabeled"]["valid"][:] = False  # no usable unlabeled pixel in seismic
    masked = _aux_gradients(method, batch)
    assert all(g == 0 for g in masked["seismic"]) and all(g > 0 for g in masked["aerial"])


@pytest.mark.parametrize("name", ["usss", "cct"])
def test_domain_names_may_be_any_valid_name_even_module_attributes(name):
    torch.manual_seed(0)
    domains = [DomainInfo("train", ["dark", "bright"], 3), DomainInfo("items", ["sediment", "salt", "other"], 1)]
    method = build_method(name, {}, _ctx(domains))
    assert set(method.inference_networks()) == {"train", "items"}


def test_cct_background_names_may_come_from_any_domain():
    method = _cct(background=["salt"])
    kinds = {name: [d.kind for d in method.branch(name).aux_decoders] for name in ("aerial", "seismic")}
    assert "object_mask" in kinds["seismic"] and "object_mask" not in kinds["aerial"]
    with pytest.raises(UserError, match="unknown class names"):
        _cct(background=["sky"])


def test_domains_and_top_level_fields_do_not_mix():
    with pytest.raises(UserError, match="inside each of `domains`"):
        parse_job({"version": 1, "classes": CLASSES, "domains": []})
    dom = {"classes": CLASSES, "labeled": [{"raster": "a.tif", "labels": "l.tif"}]}
    with pytest.raises(UserError, match="domain names must differ"):
        parse_job({"version": 1, "domains": [{"name": "x", **dom}, {"name": "x", **dom}]})


def _two_domain_job(tmp_path, method, **train):
    tmp_path.mkdir(parents=True, exist_ok=True)
    image, truth = two_class_scene(96, 96, bands=3, seed=1)
    write_raster(tmp_path / "aerial.tif", image)
    write_raster(tmp_path / "aerial_labels.tif", sparse_labels(truth), nodata=255)
    section, salt = two_class_scene(80, 112, bands=1, seed=2)
    write_raster(tmp_path / "section.tif", section, transform=None, crs=None)
    write_raster(tmp_path / "section_labels.tif", sparse_labels(salt), transform=None, crs=None, nodata=255)
    job = {
        "version": 1,
        "domains": [
            {"name": "aerial", "classes": CLASSES, "labeled": [{"raster": "aerial.tif", "labels": "aerial_labels.tif"}], "predict": ["aerial.tif"]},
            {"name": "seismic", "classes": SALT, "labeled": [{"raster": "section.tif", "labels": "section_labels.tif"}], "predict": ["section.tif"]},
        ],
        "method": method if isinstance(method, dict) else {"name": method},
        "train": {"steps": 3, "batch_size": 2, "tile_size": 64, "num_workers": 0, **train},
    }
    (tmp_path / "job.json").write_text(json.dumps(job))
    return tmp_path


def test_one_domain_methods_refuse_several_domains(tmp_path, capsys):
    _two_domain_job(tmp_path, "supervised")
    assert main(["train", str(tmp_path), "--quiet"]) == 2
    assert "for several domains use cct, usss" in capsys.readouterr().err


@pytest.mark.parametrize("method,train", [("usss", {}), ("cct", {}), ("usss", {"unlabeled_per_labeled": 2})])
def test_multi_domain_job_trains_and_each_model_predicts_its_own_classes(tmp_path, method, train):
    job = _two_domain_job(tmp_path, method, **train)
    assert main(["train", str(job), "--quiet"]) == 0
    metrics = [e for e in events_of(job) if e["type"] == "metrics"]
    assert {e["domain"] for e in metrics} == {"aerial", "seismic"}
    for name, classes, bands in (("aerial", ["dark", "bright"], 3), ("seismic", ["sediment", "salt", "other"], 1)):
        card = json.loads((job / "model" / name / "model.json").read_text())
        assert card["class_names"] == classes and card["in_channels"] == bands and card["domain"] == name
    with rasterio.open(job / "outputs" / "section_classes.tif") as out, rasterio.open(job / "section.tif") as src:
        assert out.crs is None and out.transform == src.transform and (out.width, out.height) == (112, 80)
        assert set(np.unique(out.read(1))) <= {0, 1, 2}
    assert 'label="salt"' in (job / "outputs" / "section_classes.qml").read_text()
    # Each domain's package is a complete model on its own.
    assert main(["predict", str(job / "model" / "seismic"), str(job / "section.tif"), "--out", str(job / "again"), "--quiet"]) == 0
    with rasterio.open(job / "outputs" / "section_classes.tif") as a, rasterio.open(job / "again" / "section_classes.tif") as b:
        np.testing.assert_array_equal(a.read(1), b.read(1))


def test_interrupted_multi_domain_cct_resumes_to_the_same_weights(tmp_path):
    job = _two_domain_job(tmp_path / "job", {"name": "cct", "decoders": {"vat": 0, "cutout": 0}}, steps=8, checkpoint_every=100)
    twin = shutil.copytree(job, tmp_path / "twin")
    assert main(["train", str(twin), "--quiet"]) == 0
    proc = start_training(job)
    wait_for_step(job, 3, proc)
    (job / "cancel").touch()
    assert proc.wait(120) == 130
    assert main(["train", str(job), "--resume", "--quiet"]) == 0
    assert 3 <= [e for e in events_of(job) if e["type"] == "start"][-1]["resumed_from_step"] < 8
    for domain in ("aerial", "seismic"):
        a, b = load_file(job / "model" / domain / "model.safetensors"), load_file(twin / "model" / domain / "model.safetensors")
        assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a), domain
