"""The pretraining augmentation: torchvision v2's pipeline, drawn on the host, applied per image or batched."""

from __future__ import annotations

import json

import pytest
import torch
from scipy import stats
from torchvision.transforms import v2
from torchvision.transforms.v2 import functional as F

from simsiam_zoo import augment
from simsiam_zoo.augment import SimSiamViews
from simsiam_zoo.data import FakeImages
from simsiam_zoo.engine import Augmented
from simsiam_zoo.recipe import IMAGENET_MEAN, IMAGENET_STD


def v2_pipeline(image_size: int, variant: str) -> v2.Compose:
    """The paper's augmentation written as torchvision v2 transforms (what the project ran before the split)."""
    steps = [
        v2.RandomResizedCrop(image_size, scale=(0.2, 1.0), antialias=True),
        v2.RandomApply([v2.ColorJitter(0.4, 0.4, 0.4, 0.1)], p=0.8),
        v2.RandomGrayscale(p=0.2),
    ]
    if variant == "imagenet":
        kernel = max(3, (image_size // 10) | 1)
        steps.append(v2.RandomApply([v2.GaussianBlur(kernel, sigma=(0.1, 2.0))], p=0.5))
    steps.append(v2.RandomHorizontalFlip())
    return v2.Compose(
        [*steps, v2.ToDtype(torch.float32, scale=True), v2.Normalize(mean=list(IMAGENET_MEAN), std=list(IMAGENET_STD))]
    )


def views(image_size: int = 48, variant: str = "imagenet") -> SimSiamViews:
    return SimSiamViews(image_size=image_size, variant=variant, mean=IMAGENET_MEAN, std=IMAGENET_STD)


def image(height: int = 70, width: int = 90, *, seed: int = 0, channels: int = 3) -> torch.Tensor:
    return torch.randint(
        0, 256, (channels, height, width), dtype=torch.uint8, generator=torch.Generator().manual_seed(seed)
    )


@pytest.mark.parametrize(
    ("variant", "size", "shape"),
    [
        ("imagenet", 48, (70, 90)),
        ("imagenet", 64, (70, 90)),  # a blur kernel of 7, 10% of the side: 48 and 32 px round to what 1/11 gives
        ("small", 32, (28, 28)),
        ("imagenet", 32, (200, 40)),
        ("small", 32, (40, 200)),
    ],
)
def test_one_seed_gives_the_views_of_the_torchvision_v2_pipeline(variant, size, shape):
    """The draws are v2's, in v2's order, and the per-image ops v2's kernels: equal, not close (also for a tall
    and a wide strip, which need RandomResizedCrop's fallback box)."""
    ours, reference, picture = views(size, variant), v2_pipeline(size, variant), image(*shape)
    for seed in range(60):
        torch.manual_seed(seed)
        expected = reference(picture)
        torch.manual_seed(seed)
        assert torch.equal(ours(picture), expected), seed


def test_a_grey_image_has_the_views_of_its_rgb_copy_on_either_path():
    """A one-channel image (a notebook's dataset) is made RGB at its crop: per image, its views are v2's of its
    three-channel copy (on one channel saturation and hue did nothing, and contrast took the channel's own mean, so
    that the two paths' views differed), and the worker's half stacks with colour views for the batched finish (a
    grey crop could not take three channels' normalisation)."""
    ours, reference, grey = views(32), v2_pipeline(32, "imagenet"), image(40, 40, channels=1)
    for seed in range(30):
        torch.manual_seed(seed)
        expected = reference(grey.expand(3, -1, -1))
        torch.manual_seed(seed)
        assert torch.equal(ours(grey), expected), seed
        torch.manual_seed(seed)
        crop, params = ours.crop_and_draw(grey)
        assert crop.shape == (3, 32, 32)
        assert torch.equal(ours.finish(crop, params), expected), seed


def batch_of_views(count: int, *, size: int = 48, dtype: torch.dtype = torch.uint8):
    torch.manual_seed(0)
    augmentation = views(size)
    crops, params = zip(*(augmentation.crop_and_draw(image(seed=i)) for i in range(count)), strict=True)
    crops = torch.stack(crops)
    return augmentation, (crops if dtype == torch.uint8 else crops.float() / 255), torch.stack(params)


def test_each_sample_of_a_batch_has_its_own_parameters():
    _, _, params = batch_of_views(64)
    assert params.shape == (64, augment.PARAMS)
    assert len({tuple(row) for row in params[:, augment.TOP : augment.WIDTH + 1].tolist()}) == 64
    jittered = params[:, augment.JITTER] > 0
    assert 30 < int(jittered.sum()) < 64
    assert len(set(params[jittered, augment.BRIGHTNESS].tolist())) == int(jittered.sum())
    assert len({tuple(row) for row in params[jittered, augment.ORDER].tolist()}) > 5  # the order, per sample
    for column in (augment.GRAY, augment.FLIP):
        assert 0 < int((params[:, column] > 0).sum()) < 64
    assert 10 < int((params[:, augment.SIGMA] > 0).sum()) < 54


@pytest.mark.parametrize("variant", ["imagenet", "small"])
def test_the_batched_finish_reads_nothing_back_from_the_device(variant):
    """On the meta device a tensor has a shape and no data, so any read of the images' values on the host (a
    `.item()`, a `nonzero` choosing the rows, a plan made from device tensors) raises: the finish runs whole there,
    so on a GPU it queues its work without waiting."""
    _, crops, params = batch_of_views(32)
    finished = views(48, variant).finish_batch(crops.to("meta"), params)
    assert finished.device.type == "meta" and finished.shape == crops.shape and finished.dtype == torch.float32


def test_the_batched_ops_equal_torchvision_functional_ops_with_the_same_parameters():
    """On float images (where torchvision does not round to uint8 between ops) the batched path equals the
    per-image functional ops within 1e-5 (float32 rounding); on uint8 images within 6/255, the per-image path's
    truncation to uint8 after each of up to six ops (0.5/255 lower on average each)."""
    augmentation, crops, params = batch_of_views(64, dtype=torch.float32)
    per_image = torch.stack([augmentation.finish(crop, row) for crop, row in zip(crops, params, strict=True)])
    torch.testing.assert_close(augmentation.finish_batch(crops, params), per_image, atol=1e-5, rtol=0)
    augmentation, crops, params = batch_of_views(64)
    per_image = torch.stack([augmentation.finish(crop, row) for crop, row in zip(crops, params, strict=True)])
    std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    difference = (augmentation.finish_batch(crops, params) - per_image).abs() * std
    assert difference.max() <= 6 / 255 and difference.mean() < 2 / 255


def test_the_batched_finish_leaves_its_input_as_it_was_and_takes_rgb_views():
    """The ops write in place: on float views (which `to_dtype` returns as they are) into a copy, not the caller's.
    They read three channels, as `crop` makes every view."""
    augmentation, crops, params = batch_of_views(16, dtype=torch.float32)
    before = crops.clone()
    augmentation.finish_batch(crops, params)
    assert torch.equal(crops, before)
    with pytest.raises(
        ValueError, match=r"takes RGB views \(N, 3, H, W\), as `crop` makes them; got \(16, 1, 48, 48\)"
    ):
        augmentation.finish_batch(crops[:, :1], params)  # an unpacking error in the luma


def test_the_batched_hue_equals_torchvision_on_gray_pixels_and_ties():
    """Random images almost never hold a gray pixel (hue undefined) or two channels tied at the maximum, where the
    hue takes torchvision's branch order: these images are made of nothing else, on a few levels."""
    levels = torch.tensor([0, 0.2, 0.5, 1.0])
    pixels = torch.cartesian_prod(levels, levels, levels).T.reshape(1, 3, 8, 8)  # every mix, gray and ties included
    x = pixels.expand(5, -1, -1, -1).contiguous()
    shifts = torch.tensor([-0.1, -0.05, 0.0, 0.03, 0.1])
    expected = torch.stack([F.adjust_hue(image, float(shift)) for image, shift in zip(x, shifts, strict=True)])
    torch.testing.assert_close(augment._hue(x.clone(), shifts), expected, atol=1e-6, rtol=0)


def test_the_draws_follow_torchvision_distributions():
    """Kolmogorov-Smirnov against the ranges of the v2 transforms (fixed seed): jitter factors uniform on their
    ranges, crop areas the same as v2.RandomResizedCrop's own draws, each coin at its probability."""
    torch.manual_seed(0)
    ours = torch.stack([views(32).draw(96, 96) for _ in range(3000)])
    jittered = ours[ours[:, augment.JITTER] > 0]
    for column, (low, high) in zip(
        (augment.BRIGHTNESS, augment.CONTRAST, augment.SATURATION, augment.HUE),
        ((0.6, 1.4), (0.6, 1.4), (0.6, 1.4), (-0.1, 0.1)),
        strict=True,
    ):
        assert stats.kstest(jittered[:, column].numpy(), stats.uniform(low, high - low).cdf).pvalue > 0.01
    torch.manual_seed(1)
    crop = v2.RandomResizedCrop(32, scale=(0.2, 1.0))
    theirs = [crop.make_params([torch.zeros(3, 96, 96)]) for _ in range(3000)]
    their_areas = [p["height"] * p["width"] / 96**2 for p in theirs]
    our_areas = (ours[:, augment.HEIGHT] * ours[:, augment.WIDTH] / 96**2).numpy()
    assert stats.ks_2samp(our_areas, their_areas).pvalue > 0.01
    for column, p in ((augment.JITTER, 0.8), (augment.GRAY, 0.2), (augment.FLIP, 0.5), (augment.SIGMA, 0.5)):
        assert stats.binomtest(int((ours[:, column] > 0).sum()), len(ours), p).pvalue > 0.01


def test_on_and_off_the_device_a_seeded_sample_has_the_same_parameters_and_crop():
    """`Augmented` seeds by (seed, epoch, index): the worker's half for the device path draws what the per-image
    path draws, so its crop finished per image is the per-image path's view exactly."""
    dataset = FakeImages(8, image_size=40, seed=0)
    augmentation = views(32)
    per_image = Augmented(dataset, augmentation, seed=3, views=2)
    halves = Augmented(dataset, augmentation.crop_and_draw, seed=3, views=2)
    for key in ((0, 1), (2, 5)):
        *whole, label = per_image.sample(key)
        *split, same_label = halves.sample(key)
        assert label == same_label
        for view, (crop, params) in zip(whole, split, strict=True):
            assert torch.equal(augmentation.finish(crop, params), view)


GOOD_CFG = {"input_size": [3, 224, 224], "crop_pct": 0.875, "mean": [0.5] * 3, "std": [0.25] * 3}

# A config from elsewhere chooses these (a hub folder's config.json): each is a ValueError naming its field, where
# an infinite or 400-digit size raised OverflowError, a NaN mean was pushed, and a 100000 px side asked 30 GB.
UNUSABLE_CFGS = {
    "input_size inf": ({"input_size": [3, float("inf"), float("inf")]}, "input_size must be whole numbers"),
    "input_size 10**400": ({"input_size": [3, 10**400, 10**400]}, "input_size must be whole numbers"),
    "input_size channels 10**400": ({"input_size": [10**400, 224, 224]}, "input_size must be whole numbers"),
    "input_size channels 1e30": (
        {"input_size": [1e30, 224, 224]},
        r"input_size must have 3 channels \(RGB, as timm's\), got 10000",
    ),
    "input_size channels 4": ({"input_size": [4, 224, 224]}, "input_size must have 3 channels .*, got 4$"),
    "input_size a fraction": ({"input_size": [3, 224.5, 224.5]}, "input_size must be whole numbers"),
    "input_size over PIL's limit": ({"input_size": [3, 100000, 100000]}, r"input_size \[3, 100000, 100000\] is over"),
    "mean NaN": ({"mean": [float("nan"), 0.5, 0.5]}, r"mean must be finite numbers, got \[nan, 0.5, 0.5\]"),
    "mean inf": ({"mean": [float("-inf"), 0.5, 0.5]}, "mean must be finite numbers"),
    "mean 10**400": ({"mean": [10**400, 0.5, 0.5]}, "mean must be finite numbers"),
    "mean beyond float32": ({"mean": [1e39, 0.5, 0.5], "std": [1e30] * 3}, "do not normalise pixels to finite"),
    "std inf": ({"std": [float("inf"), 1, 1]}, "std must be finite numbers above 0"),
    "std NaN": ({"std": [float("nan"), 1, 1]}, "std must be finite numbers above 0"),
    "std negative": ({"std": [-1, 1, 1]}, r"std above 0, got \[3, 224, 224\] and \[-1, 1, 1\]"),
    "std 0": ({"std": [0, 1, 1]}, r"std above 0, got \[3, 224, 224\] and \[0, 1, 1\]"),  # a ZeroDivisionError
    "mean of two numbers": ({"mean": [0.5, 0.5]}, r"mean must be a list of 3 numbers, got \[0.5, 0.5\]"),
    "mean holding a bool": ({"mean": [True, 0.5, 0.5]}, "mean must be a list of 3 numbers"),
    "crop_pct 0": ({"crop_pct": 0}, r"crop_pct must be in \(0, 1\], got 0"),
    "std 1e-300": ({"std": [1e-300, 1, 1]}, "do not normalise pixels to finite float32 values"),
    "crop_pct NaN": ({"crop_pct": float("nan")}, r"crop_pct must be in \(0, 1\], got nan"),
    "crop_pct True": ({"crop_pct": True}, r"crop_pct must be in \(0, 1\], got True"),
    "crop_pct 1e-300": ({"crop_pct": 1e-300}, "crop_pct 1e-300 resizes images to 2.24e"),
    "crop_pct 5e-324": ({"crop_pct": 5e-324}, "crop_pct 5e-324 resizes images to inf px"),
}


@pytest.mark.parametrize(("change", "message"), UNUSABLE_CFGS.values(), ids=UNUSABLE_CFGS.keys())
def test_preprocessing_that_cannot_work_is_a_value_error_naming_its_field(change: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message) as raised:
        augment.Preprocessing.from_pretrained_cfg({**GOOD_CFG, **change})
    assert "\n" not in str(raised.value) and len(str(raised.value)) < 300  # one line, a 400-digit number cut short


def test_the_eval_transform_refuses_a_crop_mode_it_does_not_reproduce() -> None:
    """timm's "border" (the longest side, padded) would be read as "center" in silence."""
    settings = {"image_size": 32, "crop_pct": 0.875, "mean": IMAGENET_MEAN, "std": IMAGENET_STD}
    assert augment.eval_transform(**settings, crop_mode="squash")(image(40, 60)).shape == (3, 32, 32)
    with pytest.raises(ValueError, match="crop_mode must be one of center, squash, got 'border'"):
        augment.eval_transform(**settings, crop_mode="border")


def test_the_defaults_are_timms_and_the_bound_of_float32_is_where_pixels_would_overflow() -> None:
    """A config without crop_pct takes timm's default; the normalisation's bound is the largest value a pixel in
    [0, 1] reaches, max(|mean|, |1 - mean|) / std, not a wider one."""
    from timm.data import DEFAULT_CROP_PCT, IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD

    default = augment.Preprocessing()
    assert (default.input_size, default.crop_pct) == ((3, 224, 224), DEFAULT_CROP_PCT)
    assert (default.mean, default.std) == (IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD)
    cfg = {key: value for key, value in GOOD_CFG.items() if key != "crop_pct"}
    assert augment.Preprocessing.from_pretrained_cfg(cfg).crop_pct == DEFAULT_CROP_PCT
    tiny_std = augment.Preprocessing.from_pretrained_cfg({**GOOD_CFG, "std": [2e-39] * 3})  # 0.5 / std fits
    pixels = tiny_std.transform()(torch.tensor([0, 255], dtype=torch.uint8).repeat(3, 112, 112))
    assert torch.isfinite(pixels).all() and pixels.abs().max() > 1e38
    # numpy's numbers (a config made in a notebook) are taken, as floats a config.json can hold.
    import numpy as np

    numpy_cfg = augment.Preprocessing.from_pretrained_cfg({**GOOD_CFG, "mean": list(np.full(3, 0.5, np.float32))})
    assert json.dumps(numpy_cfg.mean) == "[0.5, 0.5, 0.5]"


def test_whole_float_sizes_and_the_largest_image_pil_decodes_are_taken() -> None:
    from PIL import Image

    side = int(Image.MAX_IMAGE_PIXELS**0.5)
    taken = augment.Preprocessing.from_pretrained_cfg({**GOOD_CFG, "input_size": [3.0, side, side], "crop_pct": 1})
    assert taken.input_size == (3, side, side) and all(type(v) is int for v in taken.input_size)
    assert augment.Preprocessing.from_pretrained_cfg({**GOOD_CFG, "mean": [0, 0, 0], "std": [1, 1, 1]}).std == (1, 1, 1)
