"""Pretrained encoder weights from a file (model.encoder_weights), and `semiseg weights`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import segmentation_models_pytorch as smp
import torch
from safetensors.torch import save_file
from segmentation_models_pytorch.encoders._utils import patch_first_conv

from conftest import write_job
from semiseg.cli import main
from semiseg.errors import UserError
from semiseg.models.encoder_weights import read_encoder_file
from semiseg.models.network import build_network
from semiseg.models.package import network_weights


def _encoder_file(path: Path, encoder: str = "resnet18", seed: int = 7) -> dict[str, torch.Tensor]:
    """An RGB encoder's tensors, as `semiseg weights` writes them (random here: no hub offline)."""
    torch.manual_seed(seed)
    state = {k: v.contiguous() for k, v in smp.encoders.get_encoder(encoder, in_channels=3).state_dict().items()}
    save_file(state, str(path))
    return state


def test_the_networks_encoder_starts_from_the_file_whatever_the_seed(tmp_path):
    state = _encoder_file(tmp_path / "rgb.safetensors")
    for seed in (0, 1):
        torch.manual_seed(seed)
        network = build_network("unet", "resnet18", 3, 4, tmp_path / "rgb.safetensors")
        own = network.encoder.state_dict()
        assert own.keys() == state.keys()
        assert all(torch.equal(own[k], state[k]) for k in state)


@pytest.mark.parametrize("bands", [1, 2, 4, 5])
def test_rgb_filters_read_other_band_counts_as_smp_adapts_its_own_pretrained_weights(tmp_path, bands):
    state = _encoder_file(tmp_path / "rgb.safetensors")
    network = build_network("unet", "resnet18", bands, 3, tmp_path / "rgb.safetensors")
    reference = smp.encoders.get_encoder("resnet18", in_channels=3)
    reference.load_state_dict(state)
    patch_first_conv(reference, bands, pretrained=True)
    assert network.encoder.conv1.weight.shape[1] == bands
    assert torch.allclose(network.encoder.conv1.weight, reference.conv1.weight)
    assert torch.equal(network.encoder.layer4[1].conv2.weight, state["layer4.1.conv2.weight"])


def test_a_models_state_dict_gives_its_encoder(tmp_path):
    """A SemiSeg package's model.safetensors (a plain network, or a blend's `network.`) starts
    another job's encoder: the encoder learnt on one area, the decoder new."""
    torch.manual_seed(3)
    trained = build_network("unet", "resnet18", 3, 2).state_dict()
    for prefix in ("", "network."):
        path = tmp_path / f"model{len(prefix)}.safetensors"
        save_file({prefix + k: v.contiguous() for k, v in trained.items()}, str(path))
        encoder = read_encoder_file(path)
        assert encoder.keys() == {k[len("encoder."):] for k in trained if k.startswith("encoder.")}
        assert torch.equal(encoder["conv1.weight"], trained["encoder.conv1.weight"])


def test_a_state_dict_file_is_read_without_running_its_code(tmp_path):
    """A .pt file is a pickle: read with weights_only, an object in it is refused, never built."""
    ran = tmp_path / "ran"

    class Payload:
        def __reduce__(self):
            return (Path.touch, (ran,))

    torch.save({"conv1.weight": Payload()}, tmp_path / "evil.pt")
    with pytest.raises(UserError, match="evil.pt: cannot be read as weights"):
        read_encoder_file(tmp_path / "evil.pt")
    assert not ran.exists()
    state = _encoder_file(tmp_path / "x.safetensors")
    torch.save(state, tmp_path / "plain.pt")
    assert torch.equal(read_encoder_file(tmp_path / "plain.pt")["conv1.weight"], state["conv1.weight"])


def _validate_errors(job_dir: Path, capsys) -> list[str]:
    assert main(["validate", str(job_dir)]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return [line for line in err.splitlines() if line.startswith("semiseg: error:")]


def test_a_file_that_does_not_fit_the_encoder_is_one_line_before_training(scene_job, capsys):
    _encoder_file(scene_job / "r34.safetensors", "resnet34")
    write_job(scene_job, method={"name": "supervised"}, model={"encoder": "resnet18", "encoder_weights": "r34.safetensors"})
    lines = _validate_errors(scene_job, capsys)
    assert len(lines) == 1 and "r34.safetensors" in lines[0] and "do not fit the job's encoder" in lines[0], lines
    write_job(scene_job, method={"name": "supervised"}, model={"encoder_weights": "nowhere.safetensors"})
    lines = _validate_errors(scene_job, capsys)
    assert len(lines) == 1 and str(scene_job / "nowhere.safetensors") in lines[0] and "file not found" in lines[0], lines


def test_a_job_trains_from_the_weights_file_its_path_relative_to_the_job(scene_job, capsys):
    (scene_job / "weights").mkdir()
    state = _encoder_file(scene_job / "weights" / "rgb.safetensors")
    write_job(scene_job, method={"name": "supervised"}, model={"encoder_weights": "weights/rgb.safetensors"},
              train={"steps": 1, "lr": 1e-12, "eval_every": 1})
    assert main(["train", str(scene_job), "--quiet"]) == 0, capsys.readouterr().err
    trained = network_weights(scene_job / "model")
    for name, value in state.items():
        if name.endswith("weight") and value.dim() == 4:  # filters; batch-norm statistics move in training
            assert torch.allclose(trained["encoder." + name], value, atol=1e-8), name
    assert json.loads((scene_job / "job.json").read_text())["model"]["encoder_weights"] == "weights/rgb.safetensors"


def test_fetching_weights_without_a_connection_is_one_line_and_writes_nothing(tmp_path, capsys, monkeypatch):
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)  # as a machine without internet answers, at once
    out = tmp_path / "w" / "resnet18.safetensors"
    assert main(["weights", "resnet18", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and "resnet18/imagenet: cannot be downloaded" in err and "machine with internet" in err
    assert not out.exists() and not (out.parent.exists() and any(out.parent.iterdir()))
    assert main(["weights", "resnet18", "--name", "nonsense", "--out", str(out)]) == 2
    assert "no pretrained weights named 'nonsense' (known: imagenet" in capsys.readouterr().err
    assert main(["weights", "resnet18", "--out", str(tmp_path / "r.pt")]) == 2
    assert "must end in .safetensors" in capsys.readouterr().err
