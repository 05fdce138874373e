import re

import pytest
import torch
import torch.nn.functional as F

from simsiam_zoo.losses import (
    negative_similarity,
    normalized_moments,
    normalized_std,
    simsiam_loss,
    std_from_moments,
)


def _pair(seed: int = 0, n: int = 16, d: int = 32):
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(n, d, generator=g, requires_grad=True) for _ in range(4)]


def test_minimum_is_minus_one_when_predictions_match_targets():
    z1 = torch.randn(8, 16)
    z2 = torch.randn(8, 16)
    # p1 aligned with z2 and p2 with z1 (any positive scale): the cosine loss reaches its minimum.
    loss = simsiam_loss(3 * z2, 0.5 * z1, z1, z2)
    assert loss.item() == pytest.approx(-1.0, abs=1e-6)
    assert simsiam_loss(-z2, -z1, z1, z2).item() == pytest.approx(1.0, abs=1e-6)


def test_loss_is_symmetric_in_the_two_views():
    p1, p2, z1, z2 = _pair()
    assert torch.allclose(simsiam_loss(p1, p2, z1, z2), simsiam_loss(p2, p1, z2, z1))


def test_matches_the_papers_formula():
    p1, p2, z1, z2 = _pair(1)
    expected = -0.5 * F.cosine_similarity(p1, z2).mean() - 0.5 * F.cosine_similarity(p2, z1).mean()
    assert torch.allclose(simsiam_loss(p1, p2, z1, z2), expected)
    assert torch.allclose(simsiam_loss(p1, p2, z1, z2, symmetric=False), -F.cosine_similarity(p1, z2).mean())


def test_stop_gradient_blocks_the_gradient_to_z():
    p1, p2, z1, z2 = _pair(2)
    simsiam_loss(p1, p2, z1, z2).backward()
    assert z1.grad is None and z2.grad is None
    assert p1.grad is not None and p1.grad.abs().sum() > 0
    grad_p1_with_sg = p1.grad.clone()

    q1, q2, y1, y2 = (t.detach().clone().requires_grad_() for t in (p1, p2, z1, z2))
    simsiam_loss(q1, q2, y1, y2, stop_gradient=False).backward()
    assert y1.grad is not None and y1.grad.abs().sum() > 0
    # The gradient w.r.t. p is the same; what changes is that z now receives one too.
    assert torch.allclose(q1.grad, grad_p1_with_sg)


def test_stop_gradient_changes_the_gradient_of_a_shared_encoder():
    torch.manual_seed(0)
    encoder = torch.nn.Linear(8, 8)
    x1, x2 = torch.randn(4, 8), torch.randn(4, 8)

    def grad(stop_gradient: bool) -> torch.Tensor:
        encoder.zero_grad()
        z1, z2 = encoder(x1), encoder(x2)
        simsiam_loss(z1 * 2, z2 * 2, z1, z2, stop_gradient=stop_gradient).backward()
        return encoder.weight.grad.clone()

    assert not torch.allclose(grad(True), grad(False))


def test_cross_entropy_similarity():
    p, z = torch.randn(5, 7), torch.randn(5, 7)
    expected = -(z.softmax(-1) * p.log_softmax(-1)).sum(-1).mean()
    assert torch.allclose(negative_similarity(p, z, similarity="cross_entropy"), expected)
    with pytest.raises(ValueError, match="unknown similarity"):
        negative_similarity(p, z, similarity="dot")


def test_normalized_std_detects_collapse_and_spread():
    d = 256
    collapsed = torch.ones(512, d) + 1e-7 * torch.randn(512, d)
    assert normalized_std(collapsed).item() < 1e-4
    spread = torch.randn(4096, d)
    assert normalized_std(spread).item() == pytest.approx(1 / d**0.5, rel=0.05)


@pytest.mark.parametrize("shape", [(2, 1), (3, 5), (64, 16)])
def test_normalized_std_is_torchs_std_of_the_normalised_rows(shape):
    """The smallest batch and width it takes, and Bessel's correction as torch.std has it."""
    z = torch.randn(shape, generator=torch.Generator().manual_seed(0))
    expected = F.normalize(z, dim=-1).std(dim=0).mean()
    assert normalized_std(z).item() == pytest.approx(expected.item(), rel=1e-6)


def test_moments_summed_over_a_batchs_shares_give_the_whole_batchs_std():
    z = torch.randn(10, 8, generator=torch.Generator().manual_seed(0))
    summed = sum(normalized_moments(share) for share in z.split([3, 7]))
    assert std_from_moments(summed).item() == pytest.approx(normalized_std(z).item(), rel=1e-6)


def test_gradient_steps_decrease_the_loss():
    torch.manual_seed(0)
    p = torch.randn(16, 32, requires_grad=True)
    z1, z2 = torch.randn(16, 32), torch.randn(16, 32)
    optimizer = torch.optim.SGD([p], lr=100.0)  # the cosine gradient scales as 1/(batch * |p|)
    losses = []
    for _ in range(20):
        loss = simsiam_loss(p, p, z1, z2)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0] - 0.3


@pytest.mark.parametrize("shape", [(8,), (0, 8), (1, 8), (4, 0), (2, 3, 4)])
def test_normalized_std_names_a_shape_that_is_no_batch_of_vectors(shape):
    """One vector gave a plain number, an empty batch NaN with only torch's warning."""
    with pytest.raises(
        ValueError, match=rf"z must be a batch of two or more vectors \(N, d\), got shape {re.escape(str(shape))}"
    ):
        normalized_std(torch.randn(shape))


def test_the_loss_names_predictions_and_projections_of_other_shapes():
    """A projection of one row broadcast against a batch of predictions gave another number in silence (-0.08 where
    the loss of the whole batch is -1), an empty batch NaN."""
    a = torch.randn(4, 8)
    for z in (a[:1], a[:, :4], a[0]):
        with pytest.raises(ValueError, match="p and z must be batches of vectors"):
            simsiam_loss(a, a, z, z)
    with pytest.raises(ValueError, match=r"got \(0, 8\) and \(0, 8\)"):
        negative_similarity(torch.empty(0, 8), torch.empty(0, 8))
