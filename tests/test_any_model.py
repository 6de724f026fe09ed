"""Any SE network: timm and torchvision architectures by name, the listing, paper-style names, the user's own code.

Gate counts and names are derived here from the architectures themselves (their SE modules' types, their
configs, their ``feature_info`` and module paths), never copied from the code under test.
"""

from __future__ import annotations

import json
import re
import warnings
from pathlib import Path

import numpy as np
import pytest
import timm
import torch
import torchvision
from PIL import Image
from timm.layers import SEModule
from timm.models._efficientnet_blocks import SqueezeExcite
from timm.models.senet import SEModule as LegacySEModule
from torchvision.ops import SqueezeExcitation

from se_analysis.gates.find import NoSEGatesError, find_gates
from se_analysis.gates.hooks import record
from se_analysis.models import catalog
from se_analysis.models.catalog import scan_architectures
from se_analysis.models.scan import count_gates
from se_analysis.models.zoo import load_model
from tests.own_model import ChannelGate
from tests.own_model import build as build_own

OWN = str(Path(__file__).resolve().parent / "own_model.py")


def _meta(name: str) -> torch.nn.Module:
    library, _, arch = name.partition("/")
    with warnings.catch_warnings(), torch.device("meta"):
        warnings.simplefilter("ignore")
        return timm.create_model(arch) if library == "timm" else torchvision.models.get_model(arch)


def _count(model: torch.nn.Module, kind: type) -> int:
    return sum(isinstance(m, kind) for m in model.modules())


# (name, the family's SE module type): the gate count is the number of those modules in the architecture.
BY_MODULE_TYPE = [
    ("timm/seresnet18", SEModule), ("timm/legacy_seresnet18", LegacySEModule), ("timm/rexnet_100", SEModule),
    ("timm/efficientnet_b1", SqueezeExcite), ("timm/mobilenetv3_small_050", SqueezeExcite),
    ("timm/maxvit_nano_rw_256", SEModule), ("timm/ghostnet_100", SqueezeExcite),
    ("torchvision/efficientnet_b1", SqueezeExcitation), ("torchvision/regnet_y_400mf", SqueezeExcitation),
    ("torchvision/maxvit_t", SqueezeExcitation),
]


@pytest.mark.parametrize("name, kind", BY_MODULE_TYPE, ids=[n for n, _ in BY_MODULE_TYPE])
def test_gate_count_is_the_number_of_se_modules(name, kind):
    model = _meta(name) if name != "torchvision/regnet_y_400mf" else torchvision.models.regnet_y_400mf()
    expected = _count(model, kind)
    assert expected > 0
    assert len(find_gates(model)) == expected
    assert count_gates(name) == {"name": name, "gates": expected, "error": None}  # what the listing records


def test_gate_count_is_the_number_of_se_blocks_in_the_config():
    from timm.models.regnet import model_cfgs
    from torchvision.models.efficientnet import MBConvConfig, _efficientnet_conf
    from torchvision.models.mobilenetv3 import _mobilenet_v3_conf

    setting, _ = _mobilenet_v3_conf("mobilenet_v3_small")
    assert count_gates("torchvision/mobilenet_v3_small")["gates"] == sum(c.use_se for c in setting)
    setting, _ = _efficientnet_conf("efficientnet_v2_s")  # MBConv blocks have SE, fused MBConv blocks none
    assert count_gates("torchvision/efficientnet_v2_s")["gates"] == sum(
        c.num_layers for c in setting if isinstance(c, MBConvConfig))
    cfg = model_cfgs["regnety_002"]  # every block of a RegNetY has SE (se_ratio > 0)
    assert cfg.se_ratio > 0 and count_gates("timm/regnety_002")["gates"] == cfg.depth


def test_the_listing_holds_architectures_with_se_and_none_without(tmp_path):
    names = ["timm/resnet18", "timm/seresnet18", "timm/ecaresnet26t", "timm/vit_tiny_patch16_224",
             "torchvision/resnet18", "torchvision/mobilenet_v3_small", "torchvision/regnet_y_400mf"]
    expected = {n: _count(_meta(n) if "regnet" not in n else torchvision.models.regnet_y_400mf(),
                          (SEModule, SqueezeExcitation)) for n in names}
    assert {n for n, k in expected.items() if k} == {"timm/seresnet18", "torchvision/mobilenet_v3_small",
                                                       "torchvision/regnet_y_400mf"}
    in_process = {r["name"]: r["gates"] for r in scan_architectures(names, workers=0)}
    assert in_process == expected
    # the scanning process (weight initialisation skipped) agrees
    assert {r["name"]: r["gates"] for r in scan_architectures(names[:3], workers=1)} == {
        n: expected[n] for n in names[:3]}


def test_the_listing_is_cached_per_library_version(monkeypatch):
    names = ["timm/seresnet50", "timm/resnet18", "torchvision/mobilenet_v3_small"]
    monkeypatch.setattr(catalog, "architecture_names", lambda: names)
    built = catalog.se_architectures(workers=0)
    assert [(a.name, a.gates) for a in built.architectures] == [("timm/seresnet50", 16),
                                                                ("torchvision/mobilenet_v3_small", 9)]
    assert set(built.architectures[0].weights) == {"a1_in1k", "a2_in1k", "a3_in1k", "ra2_in1k"}  # timm's tags
    assert built.architectures[1].weights[0] == torchvision.models.MobileNet_V3_Small_Weights.DEFAULT.name
    path = catalog.catalog_file()
    assert path.exists() and str(path).startswith(str(Path(__import__("os").environ["SE_ANALYSIS_HOME"])))
    assert timm.__version__ in path.name and torchvision.__version__ in path.name
    monkeypatch.setattr(catalog, "scan_architectures", lambda *a, **k: pytest.fail("the cached listing was built"))
    assert catalog.se_architectures().architectures == built.architectures
    versions = dict(catalog.catalog_versions(), timm="0.0.1")
    monkeypatch.setattr(catalog, "catalog_versions", lambda: versions)
    assert catalog.cached_catalog() is None  # another timm: another listing


def test_the_cli_lists_every_se_architecture(monkeypatch, capsys):
    from se_analysis.cli import main

    monkeypatch.setattr(catalog, "architecture_names", lambda: ["timm/seresnet18", "timm/resnet18",
                                                               "torchvision/efficientnet_b1"])
    assert main(["models", "--all", "--scan-workers", "0", "--quiet"]) == 0
    out = capsys.readouterr()
    rows = [line.split()[:2] for line in out.out.splitlines()]
    assert rows == [["timm/seresnet18", "8"], ["torchvision/efficientnet_b1", "23"]]
    assert "IMAGENET1K_V2 (default), IMAGENET1K_V1" in out.out
    assert "1 in timm" in out.err and "1 in torchvision" in out.err and "of 3 scanned" in out.err
    assert main(["models", "--all", "efficientnet", "--quiet"]) == 0  # from the cache, filtered
    assert [line.split()[0] for line in capsys.readouterr().out.splitlines() if line] == ["torchvision/efficientnet_b1"]


# -- paper-style names ---------------------------------------------------------------------------------------

def _se_paths(model: torch.nn.Module, kind) -> list[str]:
    return [p for p, m in model.named_modules() if isinstance(m, kind)]


def _feature_ends(model: torch.nn.Module, prefix: str) -> list[int]:
    """Indices in the flat list ``prefix`` of the modules timm's feature_info names (each ends a stage)."""
    return [int(f["module"].rpartition(".")[2]) for f in model.feature_info if f["module"].startswith(prefix + ".")]


def _expected_names(name: str, model: torch.nn.Module, kind) -> list[str]:
    out = []
    for path in _se_paths(model, kind):
        parts = path.split(".")
        if name in ("timm/seresnet18", "timm/legacy_seresnet18"):  # layer<k>.<j>.se: stage k + 1
            out.append(f"SE_{int(parts[0][5:]) + 1}_{int(parts[1]) + 1}")
        elif name in ("timm/efficientnet_b0", "timm/mobilenetv3_small_050"):  # blocks.<i>.<j>: stem is 1
            out.append(f"SE_{int(parts[1]) + 2}_{int(parts[2]) + 1}")
        elif name == "timm/regnety_002":  # s<k>.b<j>
            out.append(f"SE_{int(parts[0][1:]) + 1}_{int(parts[1][1:])}")
        elif name == "timm/maxvit_nano_rw_256":  # stages.<i>.blocks.<j>, stages named by feature_info
            assert f"stages.{parts[1]}" in [f["module"] for f in model.feature_info]
            out.append(f"SE_{int(parts[1]) + 2}_{int(parts[3]) + 1}")
        elif name == "timm/rexnet_100":  # one flat list, split into stages where feature_info's modules end them
            i, ends = int(parts[1]), _feature_ends(model, "features")
            before = [e for e in ends if e < i]
            out.append(f"SE_{len(before) + 2}_{i - (before[-1] if before else -1)}")
        elif name == "torchvision/efficientnet_b0":  # features.0 is the stem; features.<i>.<j>: stage i + 1
            out.append(f"SE_{int(parts[1]) + 1}_{int(parts[2]) + 1}")
        elif name == "torchvision/mobilenet_v3_small":  # a flat list without feature_info: its index
            out.append(f"SE_{int(parts[1])}")
        elif name == "torchvision/maxvit_t":  # blocks.<i>.layers.<j>
            out.append(f"SE_{int(parts[1]) + 2}_{int(parts[3]) + 1}")
    return out


NAMED = [("timm/seresnet18", SEModule), ("timm/legacy_seresnet18", LegacySEModule),
         ("timm/efficientnet_b0", SqueezeExcite), ("timm/mobilenetv3_small_050", SqueezeExcite),
         ("timm/regnety_002", SEModule), ("timm/rexnet_100", SEModule), ("timm/maxvit_nano_rw_256", SEModule),
         ("torchvision/efficientnet_b0", SqueezeExcitation), ("torchvision/mobilenet_v3_small", SqueezeExcitation),
         ("torchvision/maxvit_t", SqueezeExcitation)]


@pytest.mark.parametrize("name, kind", NAMED, ids=[n for n, _ in NAMED])
def test_gates_are_named_by_stage_and_block(name, kind):
    model = _meta(name)
    expected = _expected_names(name, model, kind)
    assert len(expected) == _count(model, kind) > 0
    assert [g.name for g in find_gates(model)] == expected
    assert all(re.fullmatch(r"SE_\d+(_\d+)?", n) for n in expected) and len(set(expected)) == len(expected)


# -- loading by name -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["timm/seresnet18", "timm/rexnet_100", "torchvision/regnet_y_400mf"])
def test_random_weights_vary_between_images(name):
    net = load_model(name, pretrained=False)
    x = torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    with torch.no_grad(), record(net.module) as rec:
        net.module(x)
    for g in net.gates:
        v = rec.values[g.name]
        assert (v[0] - v[1]).abs().max() > 1e-4, f"{g.name}: the same gates for two different images"


def test_a_pretrained_tag_and_a_torchvision_weights_name():
    tagged = load_model("timm/efficientnet_b0.ra4_e3600_r224_in1k", pretrained=False)
    assert tagged.name == "timm/efficientnet_b0.ra4_e3600_r224_in1k"
    assert len(tagged.gates) == _count(tagged.module, SqueezeExcite)
    cfg = timm.models.get_pretrained_cfg("efficientnet_b0.ra4_e3600_r224_in1k")
    assert tagged.preprocessing["crop_pct"] == cfg.crop_pct and tagged.preprocessing["mean"] == list(cfg.mean)
    weights = torchvision.models.RegNet_Y_16GF_Weights.IMAGENET1K_SWAG_E2E_V1
    big = load_model("torchvision/regnet_y_16gf.IMAGENET1K_SWAG_E2E_V1", pretrained=False)
    assert big.preprocessing["weights_transforms"] == str(weights.transforms())
    assert big.class_names == list(weights.meta["categories"])
    with pytest.raises(KeyError, match="tags for efficientnet_b0 are"):
        load_model("timm/efficientnet_b0.nope", pretrained=False)
    with pytest.raises(NoSEGatesError, match="has no Squeeze-and-Excitation gates"):
        load_model("timm/resnet18", pretrained=False)


def test_offline_uncached_weights_of_any_architecture(monkeypatch, tmp_path):
    from se_analysis.models.hub import PretrainedUnavailable

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    import huggingface_hub.constants as hf

    monkeypatch.setattr(hf, "HF_HUB_CACHE", str(tmp_path / "hf"))
    for name in ("timm/rexnet_100", "timm/seresnet50.ra2_in1k", "torchvision/mobilenet_v3_small"):
        with pytest.raises(PretrainedUnavailable, match="offline mode is on"):
            load_model(name, pretrained=True)


# -- the user's own code -------------------------------------------------------------------------------------

@pytest.fixture
def own_folder(tmp_path):
    """Four class folders of four random 40x40 images, and a classes file naming them."""
    rng = np.random.default_rng(0)
    classes = ["cat", "dog", "owl", "fox"]
    for c in classes:
        (tmp_path / "images" / c).mkdir(parents=True)
        for i in range(4):
            pixels = rng.integers(0, 256, (40, 40, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(tmp_path / "images" / c / f"{i}.png")
    (tmp_path / "classes.txt").write_text("\n".join(classes) + "\n")
    return tmp_path


def test_own_code_through_extract_and_ablate(own_folder, capsys):
    from se_analysis.cli import main
    from se_analysis.runs.run import Run

    out = own_folder / "run"
    assert main(["extract", "--model", "tests/own_model.py:build", "--classes", str(own_folder / "classes.txt"),
                 "--input-size", "3", "32", "32", "--data", str(own_folder / "images"), "--out", str(out),
                 "--quiet"]) == 0
    m = Run.load(out).manifest
    gates = _se_paths(build_own(), ChannelGate)
    assert [g["se_path"] for g in m["gates"]] == gates and [g["name"] for g in m["gates"]] == [
        "SE_2_1", "SE_2_2", "SE_3_1", "SE_3_2"]  # stages.<i>.<j>: stage i + 2, block j + 1
    assert m["model"] == f"{OWN}:build" and m["model_spec"]["code"] == f"{OWN}:build"
    assert m["class_names"] == ["cat", "dog", "owl", "fox"] and m["model_spec"]["input_size"] == [3, 32, 32]
    assert m["preprocessing"]["mean"] == [0.485, 0.456, 0.406] and m["preprocessing"]["std"] == [0.229, 0.224, 0.225]
    assert m["preprocessing"]["normalisation"] == "ImageNet's (the default)"
    images = Run.load(out).images
    assert (images["source"].map(lambda s: Path(s).parent.name) == images["label_name"]).all()  # the folders' classes
    capsys.readouterr()
    assert main(["ablate", "--run", str(out), "--blocks", "-1", "--mode", "mean", "--out",
                 str(own_folder / "ablation.csv")]) == 0
    assert "mean @ SE_3_2 on 8 images" in capsys.readouterr().out
    # the library builds the same model again from the manifest
    again = load_model(m["model"], spec=m["model_spec"])
    assert again.weights_id == m["weights_id"] and again.preprocessing == m["preprocessing"]


def test_own_code_as_a_module_path_with_mean_std_and_a_checkpoint(own_folder, capsys):
    from safetensors.torch import save_file

    from se_analysis.cli import main
    from se_analysis.runs.run import Run

    model = build_own()
    with torch.no_grad():
        model.head[2].bias.add_(1.0)  # weights that differ from those the function returns
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(own_folder / "w.safetensors"))
    out = own_folder / "run"
    assert main(["extract", "--model", "tests.own_model:build", "--mean", "0.5", "--std", "0.25", "--input-size", "32",
                 "--checkpoint", str(own_folder / "w.safetensors"), "--data", str(own_folder / "images"),
                 "--out", str(out), "--quiet"]) == 0
    run = Run.load(out)
    m = run.manifest
    assert m["preprocessing"]["mean"] == [0.5] * 3 and m["preprocessing"]["normalisation"] == "given"
    assert m["class_names"] == [f"class {i}" for i in range(4)] and m["weights_id"].startswith("ckpt:")
    with torch.no_grad():
        expected = model.eval()(torch.zeros(1, 3, 32, 32))
    from se_analysis.cli.common import load_net

    net = load_net(m["model"], False, m["checkpoint"], spec=m["model_spec"])  # as `ablate` reloads it
    with torch.no_grad():
        torch.testing.assert_close(net.module(torch.zeros(1, 3, 32, 32)), expected)
    capsys.readouterr()
    assert main(["ablate", "--run", str(out), "--blocks", "SE_2_1", "--mode", "constant", "--out",
                 str(own_folder / "a.csv")]) == 0


def test_own_code_errors_are_one_line(own_folder, capsys):
    from se_analysis.cli import main

    cases = [
        (["--model", "tests/own_model.py:build_plain"], "TinySENet has no Squeeze-and-Excitation gates"),
        (["--model", "tests/own_model.py:nothing"], "has no function 'nothing'"),
        (["--model", "tests/missing.py:build"], "model code file not found"),
        (["--model", "tests/own_model.py:build", "--classes", str(own_folder / "classes.txt"), "--input-size", "3",
          "8", "8", "--mean", "0.5", "0.5"], "mean and std need 3 values"),
        (["--model", "timm/seresnet18", "--classes", str(own_folder / "classes.txt")], "are for your own model code"),
    ]
    for args, message in cases:
        assert main(["extract", *args, "--data", str(own_folder / "images"), "--out", str(own_folder / "r"),
                     "--quiet"]) == 2
        err = capsys.readouterr().err
        assert message in err and len(err.strip().splitlines()) == 1, err
    (own_folder / "three.txt").write_text("a\nb\nc\n")
    with pytest.raises(ValueError, match="3 class names for a model with 4 outputs"):
        load_model("tests/own_model.py:build", spec={"code": f"{OWN}:build", "class_names": ["a", "b", "c"]})


def test_own_code_with_a_functional_gate_is_made_hookable():
    net = load_model(f"{OWN}:build_functional")
    assert [g.name for g in net.gates] == [g.name for g in load_model(f"{OWN}:build").gates]
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad(), record(net.module) as rec:
        out = net.module(x)
        reference = build_own().eval()(x)  # same weights, gates as modules
    torch.testing.assert_close(out, reference)
    assert set(rec.values) == {g.name for g in net.gates}


def test_own_code_random_weights_and_imagenet_classes():
    net = load_model(f"{OWN}:build_imagenet", pretrained=False)
    assert not net.pretrained and "random" in net.weights and net.class_names[0] == "tench"
    assert net.sample is not None  # 1000 ImageNet classes at 3 channels: the ImageNet sample set suits it
    assert net.weights_id != load_model(f"{OWN}:build_imagenet").weights_id


def test_models_named_in_the_environment(monkeypatch):
    from se_analysis.models.user_code import registered_models

    monkeypatch.setenv("SE_ANALYSIS_MODELS", f"own={OWN}:build; pkg=tests.own_model:build_functional")
    assert registered_models() == {"own": f"{OWN}:build", "pkg": "tests.own_model:build_functional"}
    net = load_model("own")
    assert net.name == "own" and net.spec["code"] == f"{OWN}:build" and len(net.gates) == 4
    for bad in ("own", "own=timm/seresnet18", "default=tests.own_model:build", "a=x.py:f;a=y.py:f"):
        monkeypatch.setenv("SE_ANALYSIS_MODELS", bad)
        with pytest.raises(ValueError, match="SE_ANALYSIS_MODELS"):
            registered_models(reserved={"default"})


# -- the app -------------------------------------------------------------------------------------------------

def test_app_offers_models_named_in_the_environment_and_ablates_them(own_folder, monkeypatch):
    from streamlit.testing.v1 import AppTest

    from tests.test_app import APP, PAGES, no_errors

    monkeypatch.setenv("SE_ANALYSIS_MODELS", f"own={OWN}:build")
    at = AppTest.from_file(APP, default_timeout=180)
    at.run()
    assert f"own: your own code, {OWN}:build" in at.selectbox(key="model_name").options
    at.selectbox(key="model_name").set_value("own").run()
    no_errors(at)
    at.radio(key="data_kind").set_value("folder on this machine").run()
    at.text_input(key="folder").input(str(own_folder / "images")).run()
    at.button(key="run_button").click().run()
    no_errors(at)
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["SE gates"] == str(_count(build_own(), ChannelGate)) and metrics["Images"] == "16"
    at.switch_page(str(PAGES / "ablation.py")).run()
    no_errors(at)
    at.button(key="abl_run").click().run()
    no_errors(at)
    assert {"Predictions flipped"} <= {m.label for m in at.metric}


def test_app_never_imports_code_it_was_not_given(own_folder, monkeypatch, tmp_path):
    from streamlit.testing.v1 import AppTest

    from se_analysis.data.image_sets import image_folder
    from se_analysis.runs.extract import extract_cached
    from se_analysis.runs.run import RunStore
    from tests.test_app import APP, PAGES

    marker = tmp_path / "imported"
    (tmp_path / "evil.py").write_text(f"import pathlib\npathlib.Path({str(marker)!r}).touch()\n"
                                      "from tests.own_model import build\n")
    at = AppTest.from_file(APP, default_timeout=120)
    at.query_params["model"] = f"{tmp_path / 'evil.py'}:build"  # a link naming code
    at.run()
    assert at.selectbox(key="model_name").value == "default" and not marker.exists()
    # a Run made from that code outside the app (the CLI, the library) is not reopened by the app
    net = load_model(f"{tmp_path / 'evil.py'}:build")
    _, key = extract_cached(net, image_folder(own_folder / "images", net.class_names), RunStore())
    marker.unlink()
    at = AppTest.from_file(APP, default_timeout=120)
    at.query_params["run"] = key
    at.run()
    at.switch_page(str(PAGES / "ablation.py")).run()
    assert any("SE_ANALYSIS_MODELS does not name" in e.value for e in at.error) and not marker.exists()


def test_app_picker_holds_the_listing_once_built(monkeypatch):
    from streamlit.testing.v1 import AppTest

    from tests.test_app import APP, no_errors

    at = AppTest.from_file(APP, default_timeout=120)
    at.run()
    assert "timm/rexnet_100" not in at.selectbox(key="model_name").options
    assert at.button(key="build_listing")  # offered until built
    listed = catalog.Catalog([catalog.Architecture("timm/rexnet_100", "timm", 13, ("nav_in1k",)),
                              catalog.Architecture("timm/seresnet18", "timm", 8, ("a1_in1k", "ra2_in1k"))],
                             scanned=2, seconds=0.1, versions=catalog.catalog_versions())
    catalog.write_catalog(listed)
    at = AppTest.from_file(APP, default_timeout=120)
    at.run()
    options = at.selectbox(key="model_name").options
    assert {"timm/rexnet_100 · 13 SE gates", "timm/seresnet18.ra2_in1k · 8 SE gates"} <= set(options)
    at.selectbox(key="model_name").set_value("timm/rexnet_100")
    at.radio(key="weights").set_value("random (for comparison)").run()
    no_errors(at)
    assert any("13 SE gates (SE_4_1" in c.value for c in at.caption)
    assert not [b for b in at.button if b.key == "build_listing"]


def test_manifest_keeps_the_spec(own_folder):
    from se_analysis.data.image_sets import image_folder
    from se_analysis.runs.extract import extract

    net = load_model(f"{OWN}:build")
    run = extract(net, image_folder(own_folder / "images", net.class_names))
    assert json.loads(json.dumps(run.manifest))["model_spec"] == net.spec


@pytest.mark.shipped_catalog
def test_the_shipped_listing_agrees_with_the_architectures_themselves():
    """data/catalog's listing (for the versions requirements.txt installs) against a fresh count, on a sample."""
    path = catalog.shipped_catalog_file()
    if not path.exists():
        pytest.skip(f"no shipped listing for these versions ({path.name}); it is built on first use")
    listed = {a["name"]: a["gates"] for a in json.loads(path.read_text())["architectures"]}
    assert len(listed) > 300 and all(g > 0 for g in listed.values())
    sample = ["timm/seresnet50", "timm/efficientnet_b3", "timm/rexnet_100", "torchvision/regnet_y_400mf",
              "torchvision/efficientnet_v2_s"]
    for name in sample:  # counted again here, from the architecture built on the meta device
        lib, arch = name.split("/")
        if lib == "timm":
            with torch.device("meta"):
                model = timm.create_model(arch)
        else:  # torchvision's initialisers copy tensors, which the meta device cannot
            model = torchvision.models.get_model(arch)
        assert listed[name] == len(find_gates(model)), name
    assert "timm/resnet50" not in listed and "torchvision/resnet50" not in listed  # no SE, not listed
